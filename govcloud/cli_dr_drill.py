"""``govcloud dr drill plan|approve|run|show|cleanup``: DR drills, clients of ``/dr/drills``
(docs/dr.md, "Drills"). Attached to the ``dr`` group by ``govcloud.cli_dr``; errors are
reported by ``govcloud.cli`` (a drill the caller may not see: exit 4)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from govcloud.api.models.dr_drill import Drill, DrillCleanedUp, DrillList, DrillRunStarted
from govcloud.cli_changes import add_change_flag
from govcloud.cli_control import (
    _client,
    _cmd,
    _group,
    _print_json,
    _table,
    echo,
    identifier,
    write_output,
)
from govcloud.client import ApiClient, api_path, as_json
from govcloud.domain.text import printable

COLUMNS = ("ID", "STATE", "DEPARTMENT", "SYSTEM", "SITE", "REQUESTER", "APPROVER", "STARTED",
           "EVIDENCE")
FINISHED = ("passed", "failed", "interrupted", "waiting-window")


def _row(d: Drill) -> tuple[str, ...]:
    return (str(d.id), d.state + (" (running)" if d.running and d.state != "running" else ""),
            d.department, d.system or "(all systems)", d.site, d.requester,
            d.approver or "-", (d.started_at or "-")[:19].replace("T", " "),
            (d.evidence_sha256 or "-")[:19])


def _summary(d: Drill) -> None:
    echo(_table([_row(d)], COLUMNS))


def cmd_plan(args: argparse.Namespace) -> int:
    body = {"department": args.department, "system": args.system, "site": args.site}
    with _client(args) as api:
        drill = api.post_as(Drill, "/dr/drills", body)
    if args.json:
        _print_json(as_json(drill))
        return 0
    _summary(drill)
    echo(f"drill {drill.id} planned; a bureau-admin (another person) approves it: "
         f"`govcloud dr drill approve {drill.id}`")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    with _client(args) as api:
        drill = api.post_as(Drill, api_path("dr", "drills", args.id, "approve"))
    if args.json:
        _print_json(as_json(drill))
        return 0
    _summary(drill)
    echo(f"drill {drill.id} approved by {printable(drill.approver)}; run it: "
         f"`govcloud dr drill run {drill.id}`")
    return 0


def _wait(api: ApiClient, drill_id: int, timeout_s: float) -> Drill:
    deadline = time.monotonic() + timeout_s
    while True:
        drill = api.get_as(Drill, api_path("dr", "drills", drill_id))
        if not drill.running and drill.state in FINISHED:
            return drill
        if time.monotonic() > deadline:
            return drill
        time.sleep(0.5)


def cmd_run(args: argparse.Namespace) -> int:
    with _client(args) as api:
        started = api.post_as(DrillRunStarted, api_path("dr", "drills", args.id, "run"),
                              {"change": args.change} if args.change else None)
        if started.action == "wait":
            if args.json:
                _print_json(as_json(started))
            else:
                echo(f"drill {args.id} waits for change {started.change}'s window, from "
                     f"{started.opens}; the server runs it then")
            return 0
        if args.no_wait:
            if args.json:
                _print_json(as_json(started))
            else:
                echo(f"drill {args.id} running (run {started.run_id}); follow it with "
                     f"`govcloud dr drill show {args.id}`")
            return 0
        drill = _wait(api, args.id, args.timeout)
    if args.json:
        _print_json(as_json(drill))
    else:
        _print_drill(drill)
    return 0 if drill.state == "passed" else 1


def _print_drill(d: Drill) -> None:
    _summary(d)
    for s in d.steps or []:
        when = (s.started_at or "")[11:19] or "-"
        echo(f"  {s.step:<17} {s.status:<12} {when}  "
             f"{printable((s.output or '').splitlines()[-1] if s.output else '')}")
    for s in (d.evidence or {}).get("systems", []):
        echo(f"  {printable(s['system'])}: RTO {s.get('achieved_rto_s')} s "
             f"(target {s.get('target_rto_s')} s), RPO {s.get('achieved_rpo_s')} s "
             f"(target {s.get('target_rpo_s')} s), healthy: {s.get('healthy')}")
    if d.evidence_sha256:
        echo(f"evidence sealed in the audit chain: {d.evidence_sha256}")


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        if args.id is None:
            listed = api.get_as(DrillList, "/dr/drills", department=args.department)
            if args.json:
                _print_json(as_json(listed))
            elif listed.drills:
                echo(_table([_row(d) for d in listed.drills], COLUMNS))
            else:
                echo("no drills (plan one: `govcloud dr drill plan`)")
            return 0
        if args.format == "md":
            sys.stdout.write(api.get_text(api_path("dr", "drills", args.id, "report"),
                                          "text/markdown"))
            return 0
        if args.format == "pdf":
            document = api.get_bytes(api_path("dr", "drills", args.id, "report"),
                                     "application/pdf")
            write_output(args.output, document, what="a PDF report")
            if args.output != "-":
                echo(f"wrote {printable(args.output)} ({len(document):,} bytes)")
            return 0
        drill = api.get_as(Drill, api_path("dr", "drills", args.id))
    if args.json:
        _print_json(as_json(drill))
    else:
        _print_drill(drill)
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    with _client(args) as api:
        done = api.post_as(DrillCleanedUp, api_path("dr", "drills", args.id, "cleanup"))
    if args.json:
        _print_json(as_json(done))
    else:
        for line in done.deleted:
            echo(printable(line))
        if done.leftovers:
            echo(f"drill {done.drill}: still left: " + "; ".join(map(printable, done.leftovers)))
        else:
            echo(f"drill {done.drill} ({done.state}): nothing it made is left in any region")
    return 1 if done.leftovers or done.failed else 0


def register(dr: Any) -> None:
    """``dr drill ...`` under the ``dr`` group's subcommands."""
    sub = _group(dr, "drill", "DR drills: plan, approve, run, show, clean up (docs/dr.md)")
    p = _cmd(sub, "plan", cmd_plan, "plan a drill of a system (or a whole department) into a "
             "DR site; the bureau approves it")
    p.add_argument("department", type=identifier("department"))
    p.add_argument("--system", type=identifier("system"),
                   help="only this system (default: every system of the department)")
    p.add_argument("--site", required=True, type=identifier("site"),
                   help="the DR site to drill into (DR-LOCAL or DR-REMOTE)")
    p = _cmd(sub, "approve", cmd_approve, "approve a planned drill (a bureau-admin who is "
             "not the requester)")
    p.add_argument("id", type=int)
    p = _cmd(sub, "run", cmd_run, "run (or resume) an approved drill and wait for its end "
             "(or, given a change whose window has not opened, plan it for that window)")
    p.add_argument("id", type=int)
    add_change_flag(p, "dr-drill")
    p.add_argument("--no-wait", action="store_true", help="start it and return")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="how long to wait, in seconds (default 3600)")
    p = _cmd(sub, "show", cmd_show, "a drill's steps and evidence (--format md: the report), "
             "or every drill")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--department", type=identifier("department"))
    p.add_argument("--format", choices=("text", "md", "pdf"), default="text",
                   help="md: the evidence as a Markdown report; pdf: the same as a PDF, "
                        "written to --output")
    p.add_argument("--output", metavar="FILE",
                   help="where to write the PDF (a new file; '-' for standard output into "
                        "a pipe)")
    p = _cmd(sub, "cleanup", cmd_cleanup, "delete whatever a drill made, in every region, "
             "and check nothing is left (idempotent)")
    p.add_argument("id", type=int)
