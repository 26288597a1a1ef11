"""``govcloud dr failover|failovers|reprotect|failback``: DR failover and failback, clients of
``/dr/failovers``, ``/dr/reprotect``, ``/dr/failback`` and ``/dr/failover-plan`` (docs/dr.md,
"Failover and failback"). Attached to the ``dr`` group by ``govcloud.cli_dr``; errors are
reported by ``govcloud.cli``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from govcloud.api.models.dr_failover import (
    Failover,
    FailoverList,
    FailoverStarted,
    SitePlan,
    SiteRunStarted,
    SystemRole,
)
from govcloud.cli_changes import add_change_flag
from govcloud.cli_control import _client, _cmd, _print_json, _table, echo, identifier
from govcloud.client import ApiClient, api_path, as_json
from govcloud.domain.text import printable
from govcloud.errors import InvalidInput

COLUMNS = ("ID", "KIND", "STATE", "DEPARTMENT", "SYSTEM", "FROM", "TO", "STARTED", "RTO",
           "DATA LOSS")
ENDED = ("done", "failed", "interrupted")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _row(f: Failover) -> tuple[str, ...]:
    return (str(f.id), f.kind, f.state + (" (running)" if f.running and f.state != "running"
                                          else ""), f.department, f.system, f.source,
            f.target, (f.started_at or "-")[:19].replace("T", " "), _seconds(f.rto_s),
            _seconds(f.data_loss_s))


def _step_line(s: Any) -> str:
    last = (s.output or "").splitlines()[-1] if s.output else ""
    return f"  {s.step:<14} {s.status:<12} {printable(last)}"


def _print(f: Failover) -> None:
    echo(_table([_row(f)], COLUMNS))
    for s in f.steps:
        echo(_step_line(s))
    for member, where in sorted(f.endpoints.items()):
        echo(f"  endpoint {printable(member)} → {printable(f.target)} {printable(where)}")
    if f.kind == "unplanned" and f.state == "done":
        echo(f"data-loss window: {_seconds(f.data_loss_s)} (the recovery point of "
             f"{printable(f.point_at or '-')}, at the moment of the loss)")
    if f.role is not None:
        r = f.role
        echo(f"{printable(r.system)} serves from {printable(r.primary)} ({printable(r.state)}); "
             f"copy: {printable(r.copy_site or 'none — reprotect it: `govcloud dr reprotect`')}")


def _wait(api: ApiClient, failover_id: int, timeout_s: float, *, progress: bool) -> Failover:
    deadline = time.monotonic() + timeout_s
    seen: dict[str, str] = {}
    while True:
        f = api.get_as(Failover, api_path("dr", "failovers", failover_id))
        for s in f.steps:
            if progress and s.status not in ("pending", "running") and \
                    seen.get(s.step) != s.status:
                seen[s.step] = s.status
                echo(_step_line(s))
        if (not f.running and f.state in ENDED) or time.monotonic() > deadline:
            return f
        time.sleep(0.5)


def _way(started: FailoverStarted) -> str:
    return f"{started.kind}, {started.source} → {started.target}"


def _follow(args: argparse.Namespace, api: ApiClient, started: FailoverStarted) -> int:
    if args.no_wait:
        if args.json:
            _print_json(as_json(started))
        else:
            echo(f"failover {started.failover} ({printable(_way(started))}) running; follow "
                 f"it: `govcloud dr failovers {started.failover}`")
        return 0
    if not args.json:
        echo(f"failover {started.failover}: {printable(_way(started))}"
             + (" (resumed)" if started.resumed else ""))
    f = _wait(api, started.failover, args.timeout, progress=not args.json)
    f = api.get_as(Failover, api_path("dr", "failovers", started.failover))
    if args.json:
        _print_json(as_json(f))
    else:
        _print(f)
    return 0 if f.state == "done" else 1


def _print_plan(plan: SitePlan) -> None:
    for w in plan.waves:
        echo(f"wave {w.wave} (DR level {w.level}): " + ", ".join(
            f"{printable(s.department)}/{printable(s.system)} → {printable(s.target or '-')}"
            for s in w.systems))
    for s in plan.not_protected:
        echo(f"not protected: {printable(s.department)}/{printable(s.system)} "
             f"(DR level {s.level}): no copy to fail over to")
    for r in plan.receiving:
        echo(f"{printable(str(r.get('site')))}: takes {r.get('incoming')}, free "
             f"{r.get('free')}")
    if not plan.waves:
        echo(f"no protected system to fail over from {plan.site}")


def _touched(f: Failover, started: SiteRunStarted) -> bool:
    """Did the site run start or resume this failover?"""
    return f.id > started.after or any((s.finished_at or "") >= started.at for s in f.steps)


def _site_wait(api: ApiClient, started: SiteRunStarted, timeout_s: float, *,
               progress: bool) -> list[Failover]:
    """Follow the site's failovers until each planned system's is done, or one failed and
    none runs; their newest failovers."""
    wanted = [(s.department, s.system) for w in started.waves for s in w.systems]
    deadline, seen = time.monotonic() + timeout_s, set()
    while True:
        listed = api.get_as(FailoverList, "/dr/failovers", limit=500).failovers
        newest = {}
        for f in reversed(listed):  # oldest first: the newest of each system stays
            if _touched(f, started):
                newest[(f.department, f.system)] = f
        for key, f in sorted(newest.items()):
            if progress and not f.running and f.state in ENDED and (key, f.state) not in seen:
                seen.add((key, f.state))
                echo(f"  {printable(f.department)}/{printable(f.system)} → "
                     f"{printable(f.target)}: {f.state}, RTO {_seconds(f.rto_s)}")
        ended = [newest[k] for k in wanted if k in newest and not newest[k].running
                 and newest[k].state in ENDED]
        bad = any(f.state != "done" for f in ended)
        running = any(f.running for f in newest.values())
        if len(ended) == len(wanted) or (bad and not running) or \
                time.monotonic() > deadline:
            return [newest[k] for k in wanted if k in newest]
        time.sleep(0.5)


def _site_run(args: argparse.Namespace) -> int:
    body = {"site": args.site, "unplanned": args.unplanned, "confirm": args.confirm,
            "change": args.change}
    with _client(args) as api:
        started = api.post_as(SiteRunStarted, "/dr/failover-site", body)
        if not args.json:
            _print_plan(started)
        if args.no_wait:
            if args.json:
                _print_json(as_json(started))
            return 0
        ended = _site_wait(api, started, args.timeout, progress=not args.json)
    planned = sum(len(w.systems) for w in started.waves)
    ok = len(ended) == planned and all(f.state == "done" for f in ended)
    if args.json:
        _print_json({"site": started.site, "done": ok,
                     "failovers": [as_json(f) for f in ended]})
    else:
        echo(f"{started.site}: {sum(f.state == 'done' for f in ended)} of {planned} "
             "systems failed over" + ("" if ok else "; the run stopped at a failed wave: "
                                      "run it again to resume"))
    return 0 if ok else 1


def cmd_failover(args: argparse.Namespace) -> int:
    if args.site is not None:
        if not args.plan:
            return _site_run(args)
        with _client(args) as api:
            plan = api.get_as(SitePlan, "/dr/failover-plan", site=args.site)
        if args.json:
            _print_json(as_json(plan))
        else:
            _print_plan(plan)
        return 0
    if args.system is None or args.department is None or args.to is None:
        raise InvalidInput("name the system, its department and the site to fail over to",
                           hint="`govcloud dr failover SYSTEM --department D --to SITE "
                                "--confirm SYSTEM`, or `--site PROD --plan`")
    body = {"department": args.department, "system": args.system, "to": args.to,
            "unplanned": args.unplanned, "confirm": args.confirm, "change": args.change}
    with _client(args) as api:
        started = api.post_as(FailoverStarted, "/dr/failovers", body)
        return _follow(args, api, started)


def cmd_failovers(args: argparse.Namespace) -> int:
    with _client(args) as api:
        if args.id is None:
            listed = api.get_as(FailoverList, "/dr/failovers", department=args.department)
            if args.json:
                _print_json(as_json(listed))
            elif listed.failovers:
                echo(_table([_row(f) for f in listed.failovers], COLUMNS))
            else:
                echo("no failovers")
            return 0
        f = api.get_as(Failover, api_path("dr", "failovers", args.id))
    if args.json:
        _print_json(as_json(f))
    else:
        _print(f)
    return 0


def cmd_reprotect(args: argparse.Namespace) -> int:
    body = {"department": args.department, "system": args.system, "confirm": args.confirm,
            "change": args.change}
    with _client(args) as api:
        role = api.post_as(SystemRole, "/dr/reprotect", body)
    if args.json:
        _print_json(as_json(role))
    else:
        echo(f"{printable(role.system)} serves from {printable(role.primary)}; "
             f"{printable(role.copy_site or '-')} is its copy now ({printable(role.state)}); "
             "fail it back: `govcloud dr failback`")
    return 0


def cmd_failback(args: argparse.Namespace) -> int:
    body = {"department": args.department, "system": args.system, "confirm": args.confirm,
            "change": args.change}
    with _client(args) as api:
        started = api.post_as(FailoverStarted, "/dr/failback", body)
        return _follow(args, api, started)


def _running(p: Any) -> None:
    p.add_argument("--no-wait", action="store_true", help="start it and return")
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="how long to wait, in seconds (default 3600)")


def register(dr: Any) -> None:
    """``dr failover|failovers|reprotect|failback`` under the ``dr`` group's subcommands."""
    p = _cmd(dr, "failover", cmd_failover, "fail a system over to a DR site (planned, or "
             "--unplanned when production is lost), or plan a whole site's failover")
    p.add_argument("system", nargs="?", type=identifier("system"))
    p.add_argument("--department", type=identifier("department"))
    p.add_argument("--to", type=identifier("site"), help="the DR site to fail over to")
    p.add_argument("--unplanned", action="store_true",
                   help="the primary site is lost: promote the latest recovery point")
    p.add_argument("--confirm", metavar="SYSTEM",
                   help="the system (with --site: the site) named again")
    p.add_argument("--site", type=identifier("site"),
                   help="a whole site, in waves by DR level")
    p.add_argument("--plan", action="store_true", help="only plan the site's failover")
    add_change_flag(p, "dr-failover")
    _running(p)
    p = _cmd(dr, "failovers", cmd_failovers, "one failover with its steps, or every one")
    p.add_argument("id", type=int, nargs="?")
    p.add_argument("--department", type=identifier("department"))
    for name, func, what in (("reprotect", cmd_reprotect, "after a failover, record the "
                              "former primary as the system's copy"),
                             ("failback", cmd_failback, "fail a reprotected system back to "
                              "production")):
        p = _cmd(dr, name, func, what)
        p.add_argument("system", type=identifier("system"))
        p.add_argument("--department", required=True, type=identifier("department"))
        p.add_argument("--confirm", metavar="SYSTEM", help="the system named again")
        add_change_flag(p, "dr-failover")
        if name == "failback":
            _running(p)
