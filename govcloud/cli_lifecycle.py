"""``govcloud system show|scale|resize|retire``: a system's lifecycle, a client of
``/systems/{department}/{system}`` (docs/lifecycle.md); and ``govcloud report reclaim``
(``/reports/reclaim``: what is paid for but unused, attached to the ``report`` group by
``govcloud.cli_reports``). Scale, resize and retire submit a
request the bureau approves with ``govcloud request approve ID`` (and the worker runs);
``--follow`` prints its progress until it is final — or, for a retirement, until it waits
out its grace period or snapshot retention. Exit codes as ``request show --follow``: 0 done
(or waiting), 20 rejected, 21 failed, 22 cancelled, 24 timed out."""

from __future__ import annotations

import argparse
import time
from typing import Any

from govcloud.api.models import RequestDetail, Submitted
from govcloud.api.models.lifecycle import Reclaim, SystemDetail
from govcloud.cli_control import (
    _client,
    _cmd,
    _group,
    _print_json,
    _table,
    echo,
    finite,
    identifier,
)
from govcloud.cli_requests import EXIT_TIMEOUT, FINAL_EXIT
from govcloud.client import ApiClient, api_path, as_json
from govcloud.domain.text import printable

WAITING = ("grace", "keeping-snapshots")


def _path(args: argparse.Namespace, *rest: str) -> str:
    return api_path("systems", args.department, args.system, *rest)


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        s = api.get_as(SystemDetail, _path(args))
    if args.json:
        _print_json(as_json(s))
        return 0
    echo(f"system {printable(s.department)}/{printable(s.system)}: DR level {s.dr_level}, "
         f"provisioned by request {s.request}; sites "
         + ", ".join(f"{printable(x.site)} ({x.kind})" for x in s.sites))
    for g in s.groups:
        echo(f"  group {printable(str(g.get('name_prefix')))}: {g.get('count')} servers of "
             f"{printable(str(g.get('flavor')))}")
    echo(_table([(m.site, m.kind, m.name, m.flavor or "-", m.status or "-", m.host or "-",
                  m.server_id) for m in s.members],
                ("SITE", "COPY", "NAME", "FLAVOR", "STATUS", "HOST", "SERVER ID")))
    if s.requests:
        echo("requests: " + ", ".join(
            f"{r.id} {r.kind} {r.state}" + (f" ({printable(r.phase)})" if r.phase else "")
            for r in s.requests))
    return 0


def _submitted(args: argparse.Namespace, verb: str, body: dict[str, Any]) -> int:
    body = {k: v for k, v in body.items() if v is not None}
    if args.change is not None:
        body["change"] = args.change
    if args.justification is not None:
        body["justification"] = args.justification
    with _client(args) as api:
        r = api.post_as(Submitted, _path(args, verb), body)
        if not args.follow:
            if args.json:
                _print_json(as_json(r))
            else:
                echo(f"request {r.id} ({printable(r.department)}/{printable(r.system)}): "
                     f"{r.kind} {printable(r.state)}"
                     + (" — no change: this request was submitted before" if r.unchanged
                        else "") + f"; a bureau-admin approves it: `govcloud request approve "
                                   f"{r.id}`")
            return 0
        detail, timed_out = _follow(api, r.id, timeout=args.timeout, quiet=args.json)
    if args.json:
        _print_json(as_json(detail))
    else:
        echo(f"request {detail.id}: {detail.kind} {printable(detail.state)}"
             + (f" ({printable(detail.phase)})" if detail.phase else "")
             + (f": {printable(detail.error)}" if detail.error else ""))
    if timed_out:
        return EXIT_TIMEOUT
    return FINAL_EXIT.get(detail.state, 0)


def _follow(api: ApiClient, request_id: int, *, timeout: float | None,
            quiet: bool) -> tuple[RequestDetail, bool]:
    """Print events until the request is final or waits (a retirement's grace period or
    snapshot retention); (request, timed out)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = 0
    while True:
        r = api.provision_request(request_id, after_event=last)
        for e in r.events:
            last = max(last, e.id)
            if not quiet:
                echo(f"{(e.at or '')[11:19]} {printable(e.kind):<12} {printable(e.message)}",
                     flush=True)
        if r.state in FINAL_EXIT or (r.state == "provisioning" and r.phase in WAITING):
            return api.provision_request(request_id), False
        if deadline is not None and time.monotonic() >= deadline:
            return api.provision_request(request_id), True
        time.sleep(1.0)


def cmd_scale(args: argparse.Namespace) -> int:
    return _submitted(args, "scale", {"servers": args.servers, "group": args.group,
                                      "sites": args.site or None})


def cmd_resize(args: argparse.Namespace) -> int:
    return _submitted(args, "resize", {"flavor": args.flavor,
                                       "members": args.members or None})


def cmd_retire(args: argparse.Namespace) -> int:
    return _submitted(args, "retire", {"grace_days": args.grace_days,
                                       "keep_days": args.keep_days})


def _system(p: argparse.ArgumentParser) -> None:
    p.add_argument("department", type=identifier("department"))
    p.add_argument("system", type=identifier("system"))


def _request(p: argparse.ArgumentParser) -> None:
    _system(p)
    p.add_argument("--change", metavar="ID", help="the change the request runs under")
    p.add_argument("--justification", help="why (default: what the request does)")
    p.add_argument("--follow", action="store_true",
                   help="print progress until the request is final (or waits)")
    p.add_argument("--timeout", type=finite, default=None,
                   help="stop following after S seconds (exit 24)")


def register(commands: Any) -> None:
    sub = _group(commands, "system", "a provisioned system: show, scale, resize, retire")
    p = _cmd(sub, "show", cmd_show, "a system as it stands: sites, groups, members")
    _system(p)
    p = _cmd(sub, "scale", cmd_scale, "request servers added or removed in every site the "
                                      "system's DR level requires")
    _request(p)
    p.add_argument("--servers", type=int, required=True,
                   help="servers of the group in each site after the change")
    p.add_argument("--group", help="the server group (default: the system's only one)")
    p.add_argument("--site", action="append",
                   help="only this site (repeatable; the copies must keep one size)")
    p = _cmd(sub, "resize", cmd_resize, "request a new flavor for some or all members, one "
                                        "server at a time (DR copies too)")
    _request(p)
    p.add_argument("--flavor", required=True)
    p.add_argument("--members", nargs="+", metavar="NAME",
                   help="only these members (default: all)")
    p = _cmd(sub, "retire", cmd_retire, "request a retirement: servers shut off for a grace "
                                        "period, a final snapshot kept, then deleted")
    _request(p)
    p.add_argument("--grace-days", type=finite,
                   help="days shut off before deletion (default: the retire_grace_days "
                        "setting)")
    p.add_argument("--keep-days", type=finite,
                   help="days the final snapshots are kept (default: retire_keep_days)")


def cmd_reclaim(args: argparse.Namespace) -> int:
    with _client(args) as api:
        r = api.get_as(Reclaim, "/reports/reclaim", department=args.department,
                       days=args.days)
    if args.json:
        _print_json(as_json(r))
        return 0
    echo(f"reclaim candidates, idle for more than {r.days:g} days, at {r.at[:19]}Z")
    if not r.departments:
        echo("nothing to reclaim")
    for d in r.departments:
        echo(f"{printable(d.department)}: {len(d.servers)} servers shut off ({d.vcpus} vCPU, "
             f"{d.ram_mb / 1024:,.0f} GiB RAM held), {len(d.volumes)} volumes unattached "
             f"({d.volume_gb:,} GB)" + (f", {d.unknown} not known yet" if d.unknown else ""))
        rows: list[tuple[str, ...]] = [
            ("server", s.site, s.name, s.flavor or "-", f"{s.days:g}", s.system or "-")
            for s in d.servers]
        rows += [("volume", v.site, v.name or v.id, f"{v.size_gb} GB", f"{v.days:g}", "-")
                 for v in d.volumes]
        if rows:
            echo(_table(rows, ("WHAT", "SITE", "NAME", "SIZE", "DAYS", "SYSTEM")))
        for system in d.systems:
            echo(f"  retire? `govcloud system retire {printable(d.department)} "
                 f"{printable(system)}`: every production member is shut off")
    echo(f"systems with no traffic: {printable(r.traffic)}")
    return 0


def register_reclaim(report: Any) -> None:
    p = _cmd(report, "reclaim", cmd_reclaim, "what is paid for but unused: servers shut off "
             "and volumes unattached for more than N days, per department (docs/lifecycle.md)")
    p.add_argument("--department", type=identifier("department"))
    p.add_argument("--days", type=finite, default=30.0,
                   help="idle for more than this many days (default 30)")
