"""``govcloud host drain|restore|list|show``: compute hosts' maintenance, clients of
``/hosts/...`` (docs/hosts.md). Not ``govcloud hosts``, a migration's legacy hosts.

Exit codes of ``host drain`` (waiting) and ``host show --follow``: 0 done (every server
moved), 20 partial (some servers were left on the host: each says why), 21 failed or
interrupted (run the drain again to resume), 24 timed out waiting; the usual error codes
otherwise (2 bad input, 3 a drain is running, 4 no such site or host, 5 forbidden).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from govcloud.api.models.hosts import ComputeHosts, Drain, DrainStarted, HostRestored
from govcloud.cli_changes import add_change_flag
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
from govcloud.client import ApiClient, api_path, as_json
from govcloud.domain.text import printable

EXIT_DONE = 0
EXIT_PARTIAL = 20
EXIT_FAILED = 21
EXIT_TIMEOUT = 24
FINAL_EXIT = {"done": EXIT_DONE, "partial": EXIT_PARTIAL, "failed": EXIT_FAILED,
              "interrupted": EXIT_FAILED}
SERVER_COLUMNS = ("SERVER", "NAME", "DEPARTMENT", "HOW", "STATUS", "TARGET", "WHY LEFT")
HOST_COLUMNS = ("SITE", "HOST", "ZONE", "STATE", "STATUS", "SERVERS", "MAINTENANCE",
                "LAST DRAIN")


def _body(args: argparse.Namespace) -> dict[str, int] | None:
    return {"change": args.change} if args.change else None


def follow(api: ApiClient, drain_id: int, *, timeout: float | None, quiet: bool,
           poll: float = 0.5) -> tuple[Drain, bool]:
    """Print the drain's events as they come until it ends; (the drain, timed out)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = 0
    while True:
        d = api.get_as(Drain, api_path("hosts", "drains", drain_id), after_event=last)
        for e in d.events or []:
            last = max(last, e.id)
            if not quiet:
                echo(f"{(e.at or '')[11:19]} {printable(e.kind):<11} {printable(e.message)}",
                     flush=True)
        if not d.running and d.state in FINAL_EXIT:
            return api.get_as(Drain, api_path("hosts", "drains", drain_id)), False
        if deadline is not None and time.monotonic() >= deadline:
            return d, True
        time.sleep(poll)


def _print_drain(d: Drain) -> None:
    counts = d.counts
    moved = f"{counts.moved} moved, {counts.left} left of {counts.total}" if counts else ""
    echo(f"drain {d.id} of {printable(d.host)} in {printable(d.site)}: {d.state}"
         + (" (running)" if d.running else "") + (f" — {moved}" if moved else ""))
    if d.change:
        echo(f"  change {d.change}")
    if d.error:
        echo(f"  error: {printable(d.error)}")
    rows: list[tuple[str, ...]] = [
        (s.id, s.name, s.department or "-", s.kind, s.status, s.target or "-", s.reason or "")
        for s in d.servers or []]
    if rows:
        echo(_table(rows, SERVER_COLUMNS))


def _result(args: argparse.Namespace, d: Drain, timed_out: bool) -> int:
    if args.json:
        _print_json(as_json(d))
    else:
        _print_drain(d)
        if timed_out:
            echo(f"timed out after {args.timeout:.0f} s: drain {d.id} is still {d.state}; "
                 f"follow it: `govcloud host show {d.id} --follow`", file=sys.stderr)
    return EXIT_TIMEOUT if timed_out else FINAL_EXIT.get(d.state, EXIT_FAILED)


def cmd_drain(args: argparse.Namespace) -> int:
    with _client(args) as api:
        started = api.post_as(DrainStarted, api_path("hosts", args.site, args.host, "drain"),
                              _body(args))
        if args.no_wait:
            if args.json:
                _print_json(as_json(started))
            else:
                echo(f"drain {started.drain} of {printable(started.host)} "
                     f"{'resumed' if started.resumed else 'started'}; follow it: "
                     f"`govcloud host show {started.drain} --follow`")
            return 0
        if not args.json:
            echo(f"drain {started.drain} of {printable(started.host)} in "
                 f"{printable(started.site)}" + (" (resumed)" if started.resumed else "")
                 + (f" under change {started.change}" if started.change else ""),
                 flush=True)
        d, timed_out = follow(api, started.drain, timeout=args.timeout, quiet=args.json)
    return _result(args, d, timed_out)


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        if args.follow:
            d, timed_out = follow(api, args.id, timeout=args.timeout, quiet=args.json)
            return _result(args, d, timed_out)
        d = api.get_as(Drain, api_path("hosts", "drains", args.id))
    if args.json:
        _print_json(as_json(d))
    else:
        _print_drain(d)
        for e in d.events or []:
            echo(f"  {(e.at or '')[11:19]} {printable(e.kind):<11} {printable(e.message)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    with _client(args) as api:
        done = api.post_as(HostRestored, api_path("hosts", args.site, args.host, "restore"),
                           _body(args))
    if args.json:
        _print_json(as_json(done))
        return 0
    what = ["nova-compute enabled" if done.enabled else "nova-compute was enabled already",
            "out of maintenance" if done.was_in_maintenance else "was not in maintenance"]
    echo(f"{printable(done.host)} in {printable(done.site)}: " + "; ".join(what)
         + (f" (under change {done.change})" if done.change else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.get_as(ComputeHosts, "/hosts/compute", site=args.site)
    if args.json:
        _print_json(as_json(answer))
        return 0
    rows: list[tuple[str, ...]] = [(h.site, h.host, h.availability_zone or "-", h.state, h.status,
             str(h.running_servers),
             (h.maintenance_since or "yes")[:19].replace("T", " ") if h.maintenance else "-",
             f"{h.last_drain} ({h.last_drain_state})" if h.last_drain else "-")
            for h in answer.hosts]
    echo(_table(rows, HOST_COLUMNS) if rows else "no compute hosts synced yet "
         "(`govcloud sync`)")
    return 0


def register(commands: Any) -> None:
    sub = _group(commands, "host", "compute hosts' maintenance: drain, restore, list, show "
                 "(docs/hosts.md)")
    for name, handler, help_ in (
            ("drain", cmd_drain, "disable a compute host, move its servers to hosts that fit "
                                 "(anti-affinity kept), put it in maintenance; exit 0 done, "
                                 "20 partial, 21 failed"),
            ("restore", cmd_restore, "enable a drained host again and take it out of "
                                     "maintenance")):
        p = _cmd(sub, name, handler, help_)
        p.add_argument("site", type=identifier("site"))
        p.add_argument("host", type=identifier("host"))
        add_change_flag(p, "host-maintenance")
        if name == "drain":
            p.add_argument("--no-wait", action="store_true", help="start it and return")
            p.add_argument("--timeout", type=finite, default=None,
                           help="stop waiting after S seconds (exit 24; the drain goes on)")
    p = _cmd(sub, "list", cmd_list, "compute hosts with their maintenance marks and drains")
    p.add_argument("site", nargs="?", type=identifier("site"))
    p = _cmd(sub, "show", cmd_show, "a drain: its servers (where each went, or why it "
             "stayed) and its events")
    p.add_argument("id", type=int)
    p.add_argument("--follow", action="store_true", help="print its events until it ends")
    p.add_argument("--timeout", type=finite, default=None,
                   help="with --follow: stop after S seconds (exit 24)")
