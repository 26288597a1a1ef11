"""``govcloud dr adopt``: production servers no request made adopted as a system to protect
(``POST /dr/adopt``). ``govcloud dr protect``: one protection cycle of every matching copy
server, now, through the API (``POST /dr/protect``, then ``GET /dr/protect/{run}`` until it
is done), with its progress lines and each copy's outcome (docs/dr.md, "govcloud dr
protect"). Registered by ``govcloud.cli_dr``.

Exit codes: 0 every cycle ok; 1 a cycle failed, was partial or its copy was busy; 4 no such
(or no visible) department, or nothing to protect; 2 a bad parameter; 5 the token; 75 the
control plane unreachable.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from govcloud.api.models.dr_protect import DrProtectCycle, DrProtectRun
from govcloud.cli_control import _client, _cmd, _print_json, _table, echo
from govcloud.client import as_json
from govcloud.domain.text import printable

COLUMNS = ("STATUS", "DEPARTMENT", "SYSTEM", "SITE", "KIND", "SERVER", "FILES", "SIZE",
           "RECOVERY POINT", "DETAIL")
POLL_S = 0.5


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    exp = min(3, max(1, (n.bit_length() - 1) // 10))
    return f"{n / 1024 ** exp:.1f} {('KiB', 'MiB', 'GiB')[exp - 1]}"


def _row(c: DrProtectCycle) -> tuple[str, ...]:
    detail = c.error or ", ".join(c.artifacts) or "-"
    return (c.status.upper(), c.department, c.system, c.site, c.kind,
            f"{c.name} ({c.server_id})", str(c.files), _size(c.size_bytes),
            f"#{c.point_id} {c.taken_at[:19].replace('T', ' ')}" if c.point_id and c.taken_at
            else "-", detail)


def _follow(api: Any, run: DrProtectRun, *, quiet: bool) -> DrProtectRun:
    after = 0
    while True:
        for line in run.lines:
            if not quiet:
                echo(printable(line), flush=True)
        after = run.after
        if run.done:
            return run
        time.sleep(POLL_S)
        run = api.dr_protect_run(run.id, after=after)


def cmd_protect(args: argparse.Namespace) -> int:
    paths = list(args.path) if args.path else None
    with _client(args) as api:
        started = api.dr_protect(department=args.department, system=args.system, paths=paths)
        final = _follow(api, started, quiet=args.json)
    if args.json:
        _print_json(as_json(final))
    else:
        echo(_table([_row(c) for c in final.cycles], COLUMNS))
        good = sum(c.status == "ok" for c in final.cycles)
        echo(f"{good} of {len(final.cycles)} cycles ok")
        if good < len(final.cycles):
            echo("hint: a failed or partial cycle keeps the copy's last good recovery point; "
                 "the protection worker retries it with backoff (docs/dr.md)")
    return 0 if all(c.status == "ok" for c in final.cycles) else 1


def cmd_adopt(args: argparse.Namespace) -> int:
    with _client(args) as api:
        done = api.dr_adopt(args.department, args.system, list(args.member), level=args.level)
    if args.json:
        _print_json(as_json(done))
        return 0
    what = "re-adopted" if done.replaced else "adopted"
    echo(printable(f"{what} {done.department}/{done.system} at DR level {done.level}: "
                   f"{len(done.servers)} servers in {done.site} "
                   f"({', '.join(done.servers[:5])}{', ...' if len(done.servers) > 5 else ''})"))
    echo(printable(f"hint: `govcloud dr posture --department {done.department}` judges its "
                   "copies; missing ones are reported as missing"))
    return 0


def register_protect(sub: Any) -> None:
    a = _cmd(sub, "adopt", cmd_adopt, "adopt production servers no provisioning request "
             "made as a system, protected at its department's DR level")
    a.add_argument("department", help="the department the servers belong to")
    a.add_argument("system", help="the system's name")
    a.add_argument("--member", action="append", required=True, metavar="NAME",
                   help="a production server's name, a member of the system (repeatable)")
    a.add_argument("--level", type=int, choices=range(1, 7), metavar="N",
                   help="its DR level (default: the department's; never lower)")
    p = _cmd(sub, "protect", cmd_protect, "run one protection cycle of every matching DR "
             "copy now (sync, verify, recovery point) and report each outcome")
    p.add_argument("--department", help="only this department's systems")
    p.add_argument("--system", help="only this system")
    p.add_argument("--path", action="append", metavar="PATH",
                   help="a data path to copy (repeatable; default: the dr_protect_paths "
                        "setting)")
