"""Request and provisioning commands, clients of the control plane's API:
``request submit|list|show|approve|reject|cancel`` and ``provision apply`` (for CI).

Exit codes of ``provision apply --wait`` and ``request show --follow`` (docs/provisioning.md):
0 done (or, without waiting, submitted), 20 rejected, 21 failed, 22 cancelled, 24 timed out;
the usual error codes otherwise (2 bad request file, 5 forbidden, 6 insufficient capacity...).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from govcloud.api.models import ProvisionRequest, RequestDetail, Submitted
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo, finite
from govcloud.client import ApiClient, as_json
from govcloud.domain.text import printable

EXIT_DONE = 0
EXIT_REJECTED = 20
EXIT_FAILED = 21
EXIT_CANCELLED = 22
EXIT_TIMEOUT = 24
FINAL_EXIT = {"done": EXIT_DONE, "rejected": EXIT_REJECTED, "failed": EXIT_FAILED,
              "cancelled": EXIT_CANCELLED, "retired": EXIT_DONE}


def read_request_file(path: str) -> Any:
    """A request file (YAML or JSON; '-' is stdin) as plain data. A file that cannot be read,
    is not a regular file (``/dev/zero``), is over 1 MiB or not UTF-8, does not parse, gives a
    key twice or holds anything but JSON data (``.inf``, ``.nan``, dates) is an InvalidInput
    naming the file — before anything is sent."""
    from govcloud import yamlfile

    what = f"request file {printable(path)}"
    text = yamlfile.read_text(path, what="request file",
                              hint="check the path (see docs/examples/request.yaml)")
    return yamlfile.load(text, what=what,
                         hint="fix the YAML syntax (see docs/examples/request.yaml)")


def _line(r: ProvisionRequest) -> str:
    who = f", approved by {printable(r.approver)}" if r.approver else ""
    return (f"request {r.id} ({printable(r.department)}/{printable(r.system)}): "
            f"{printable(r.state)}{who}")


def _submitted_line(r: Submitted) -> str:
    """``_line``, saying so when the server answered an existing, identical request."""
    return _line(r) + (" — no change: this request was submitted before"
                       if r.unchanged else "")


def cmd_submit(args: argparse.Namespace) -> int:
    data = read_request_file(args.file)
    with _client(args) as api:
        answer = api.submit_request(data)
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(_submitted_line(answer))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.requests(state=args.state, department=args.department)
    if args.json:
        _print_json(as_json(answer))
        return 0
    rows: list[tuple[str, ...]] = [
        (str(r.id), r.department, r.system, str(r.dr_level), r.state,
         r.requester, r.approver or "", (r.created_at or "")[:19].replace("T", " "))
        for r in answer.requests]
    echo(_table(rows, ("ID", "DEPARTMENT", "SYSTEM", "DR", "STATE", "REQUESTER", "APPROVER",
                        "SUBMITTED")))
    return 0


def _print_request(r: RequestDetail) -> None:
    echo(_line(r))
    echo(f"  requester {printable(r.requester)}, DR level {r.dr_level}")
    if r.reason:
        echo(f"  reason: {printable(r.reason)}")
    if r.error:
        echo(f"  error: {printable(r.error)}")
    placement = r.placement or {}
    for s in placement.get("sites", []):
        d = s["demand"]
        echo(f"  {s['site']} ({s['kind']}): {d['instances']} servers, {d['vcpu']} vCPU, "
              f"{d['ram_mb'] / 1024:,.0f} GiB RAM" + ("" if s["ok"] else
                                                      " — " + printable("; ".join(s["problems"]))))
    if r.servers:
        rows: list[tuple[str, ...]] = [
            (s.site, str(s.ordinal), s.name, s.status, s.server_id or "", s.error or "")
            for s in r.servers]
        echo(_table(rows, ("SITE", "#", "NAME", "STATUS", "SERVER ID", "ERROR")))


def _follow(api: ApiClient, request_id: int, *, timeout: float | None, quiet: bool
            ) -> tuple[RequestDetail, bool]:
    """Print events as they come until the request is final; (request, timed out)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = 0
    while True:
        r = api.provision_request(request_id, after_event=last)
        for e in r.events:
            last = max(last, e.id)
            if not quiet:
                echo(f"{(e.at or '')[11:19]} {printable(e.kind):<12} {printable(e.message)}",
                     flush=True)
        if r.state in FINAL_EXIT:
            return r, False
        if deadline is not None and time.monotonic() >= deadline:
            return r, True
        time.sleep(1.0)


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        if args.follow:
            r, timed_out = _follow(api, args.id, timeout=args.timeout, quiet=args.json)
            r = api.provision_request(args.id)
        else:
            r, timed_out = api.provision_request(args.id), False
    if args.json:
        _print_json(as_json(r))
    else:
        _print_request(r)
    if not args.follow:
        return 0
    return EXIT_TIMEOUT if timed_out else FINAL_EXIT[r.state]


def _decide(args: argparse.Namespace, verb: str, reason: str | None = None) -> int:
    with _client(args) as api:
        answer = api.decide_request(args.id, verb, reason=reason)
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(_line(answer))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(args, "approve")


def cmd_reject(args: argparse.Namespace) -> int:
    return _decide(args, "reject", args.reason)


def cmd_cancel(args: argparse.Namespace) -> int:
    return _decide(args, "cancel", args.reason)


def cmd_apply(args: argparse.Namespace) -> int:
    data = read_request_file(args.file)
    with _client(args) as api:
        submitted = api.submit_request(data)
        if not args.json:
            echo(_submitted_line(submitted), flush=True)
        if not args.wait:
            if args.json:
                _print_json(as_json(submitted))
            return 0
        r, timed_out = _follow(api, submitted.id, timeout=args.timeout, quiet=args.json)
    if args.json:
        _print_json(as_json(r))
    elif timed_out:
        echo(f"timed out after {args.timeout:.0f} s: request {r.id} is still {r.state}",
              file=sys.stderr)
    else:
        echo(_line(r) + (f": {printable(r.error)}" if r.error else
                         f": {printable(r.reason)}" if r.reason else ""))
    return EXIT_TIMEOUT if timed_out else FINAL_EXIT[r.state]


def register(commands: Any) -> None:
    sub = _group(commands, "request", "provisioning requests: submit, decide, follow")
    p = _cmd(sub, "submit", cmd_submit, "submit a request file (YAML; '-' reads stdin)")
    p.add_argument("file")
    p = _cmd(sub, "list", cmd_list, "requests you may see, newest first")
    p.add_argument("--state", action="append", help="only this state (repeatable)")
    p.add_argument("--department")
    p = _cmd(sub, "show", cmd_show, "one request with its placement and servers")
    p.add_argument("id", type=int)
    p.add_argument("--follow", action="store_true",
                   help="print progress until the request is final (exit code as "
                        "`provision apply --wait`)")
    p.add_argument("--timeout", type=finite, default=None, help="stop following after S "
                                                               "seconds (exit 24)")
    p = _cmd(sub, "approve", cmd_approve, "approve (bureau-admin; reserves capacity)",
             json_=True)
    p.add_argument("id", type=int)
    p = _cmd(sub, "reject", cmd_reject, "reject with a reason (bureau-admin)")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p = _cmd(sub, "cancel", cmd_cancel, "cancel a submitted or approved request (a "
             "retirement in its grace period: rolled back)")
    p.add_argument("id", type=int)
    p.add_argument("--reason")

    sub = _group(commands, "provision", "provisioning for CI pipelines")
    p = _cmd(sub, "apply", cmd_apply,
             "submit a request file and (with --wait) follow it to the end; exit 0 done, "
             "20 rejected, 21 failed, 22 cancelled, 24 timed out")
    p.add_argument("file")
    p.add_argument("--wait", action="store_true",
                   help="wait for approval (or auto-approval) and provisioning")
    p.add_argument("--timeout", type=finite, default=3600.0,
                   help="give up waiting after S seconds (default 3600; exit 24)")
