"""Disaster-recovery commands, clients of the control plane's API: ``dr posture``; protection
(``cli_dr_protect``), drills (``cli_dr_drill``) and failover, reprotect, failback
(``cli_dr_failover``) attach here.
Registered by ``govcloud.cli``; errors are reported there (an unknown or hidden department or
city: exit 4 with a hint). docs/dr.md describes the verdicts.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from govcloud import cli_dr_drill, cli_dr_failover
from govcloud.api.models.dr import DrCopy, DrPosture, DrSystem, DrTotals
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo
from govcloud.cli_dr_protect import register_protect
from govcloud.client import as_json
from govcloud.domain.protection import format_duration
from govcloud.domain.text import printable

# worst first; a verdict the server adds later sorts before the known ones
_ORDER = {"non-compliant": 1, "at risk": 2, "compliant": 3}
COLUMNS = ("VERDICT", "DEPARTMENT", "SYSTEM", "LEVEL", "RPO/RTO TARGET", "COPIES",
           "LAST DRILL", "REASONS")


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(timedelta(seconds=seconds))


def _copy(c: DrCopy) -> str:
    """``DR-LOCAL hot present, RPO 10m``."""
    if c.replication == "synchronous":
        rpo = "RPO 0 by replication" if c.rpo_s is not None else "not replicated"
    else:
        rpo = f"RPO {_duration(c.rpo_s)}" if c.rpo_s is not None else "no recovery point"
    return f"{c.site} {c.kind} {c.state}, {rpo}"


def _drill(s: DrSystem) -> str:
    d = s.last_drill
    if d is None:
        return "never"
    return f"{d.at[:10]} {d.result}, RTO {_duration(d.rto_s)}"


def _row(s: DrSystem) -> tuple[str, ...]:
    return (s.verdict.upper(), s.department, s.system, str(s.level),
            f"{_duration(s.target_rpo_s)}/{_duration(s.target_rto_s)}",
            "; ".join(_copy(c) for c in s.copies) or "-", _drill(s), "; ".join(s.reasons))


def _sorted(systems: list[DrSystem]) -> list[DrSystem]:
    return sorted(systems, key=lambda s: (_ORDER.get(s.verdict, 0), s.department, s.system))


def _totals(what: str, t: DrTotals) -> str:
    return (f"{what}: {t.systems:,} systems — {t.non_compliant:,} non-compliant, "
            f"{t.at_risk:,} at risk, {t.compliant:,} compliant")


def _print_posture(answer: DrPosture, *, narrowed: bool) -> None:
    if answer.systems:
        echo(_table([_row(s) for s in _sorted(answer.systems)], COLUMNS))
    else:
        echo("no protected systems to judge (systems come from provisioning requests)")
    echo("")
    for code, t in answer.departments.items():
        echo(_totals(f"department {printable(code)}", t))
    for city, t in answer.cities.items():
        echo(_totals(f"city {printable(city)}", t))
    echo(_totals("shown" if narrowed else "province", answer.province))
    echo(f"as of {answer.at[:19].replace('T', ' ')} UTC")


def cmd_posture(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.dr_posture(department=args.department, city=args.city)
    if args.json:
        _print_json(as_json(answer))
        return 0
    _print_posture(answer, narrowed=bool(args.department or args.city))
    return 0


def register(commands: Any) -> None:
    sub = _group(commands, "dr", "disaster recovery: posture, drills, failover and failback "
                 "(docs/dr.md)")
    p = _cmd(sub, "posture", cmd_posture, "each system's DR verdict, worst first, with its "
             "copies, current RPO and last drill; totals per department, city and province")
    p.add_argument("--department", help="only this department")
    p.add_argument("--city", help="only the departments of this city")
    register_protect(sub)
    cli_dr_drill.register(sub)
    cli_dr_failover.register(sub)
