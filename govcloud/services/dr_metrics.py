"""The DR posture as metric samples (``govcloud_dr_*``, docs/metrics.md "Disaster recovery"):
what the metrics snapshot adds from the held posture (``services.dr_posture_held``).

Series are bounded by design. Per system there are two: the worst copy's current RPO and the
last drill's start. Everything else is per department, per site or per DR level: the targets
(a system's are its level's: the posture judges every system at its level's targets), the
verdict counts, the copies by state, the missing copies, the drills overdue and failing, the
copy servers whose last protection cycle failed. With D departments, S sites, L levels and N
systems at most ``2N + D × (3 + S + 3) + S × 7 + L × 5 + 1`` DR series: 5,000 systems of 71
departments in 3 sites make at most 10,691 (a series per
system and site for the RPO would add up to N more, and one for the target and one for the
last drill's RTO 2N more: the province would pass 15,000).

The RPO's sample is the *point* (the oldest copy's recovery point, or None when a copy has
none: +Inf); the exporter turns it into seconds at each scrape, so the RPO grows between two
snapshots as it does in the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from govcloud.domain.protection import (
    Compliance,
    CopyState,
    DrillState,
    ProtectionPolicy,
    Replication,
)
from govcloud.domain.recovery import DrillResult
from govcloud.services.dr_posture import Posture, SystemPosture

Labels = tuple[str, ...]
Add = Callable[[str, Labels, float], None]
VERDICTS = tuple(Compliance)
STATES = tuple(CopyState)


@dataclass(slots=True)
class DrPoints:
    """Per system with copies: (department, system, level) → the oldest copy's recovery
    point as Unix time, or None while a copy has none."""

    points: list[tuple[Labels, float | None]] = field(default_factory=list)


def _oldest_point(row: SystemPosture) -> float | None:
    """The worst copy's recovery point: the oldest of the copies' (None: a copy has none)."""
    points = [c.recovery_point for c in row.verdict.copies]
    # a synchronous copy whose volumes replicate has RPO 0 at every scrape: a point at +inf
    # (``rpo_seconds`` gives 0 for a point after now)
    known = [float("inf") if c.replication is Replication.SYNCHRONOUS else p.timestamp()
             for c, p in zip(row.verdict.copies, points, strict=True) if p is not None]
    return min(known) if known and len(known) == len(points) else None


def _failing(row: SystemPosture) -> bool:
    drill, plan = row.last_drill, row.plan
    if drill is None or plan is None:
        return False
    return drill.result is DrillResult.FAILED or (drill.rto is not None and drill.rto > plan.rto)


def dr_samples(posture: Posture, policy: ProtectionPolicy, add: Add,
               failing_copies: Mapping[str, int] | None = None) -> DrPoints:
    """``add(family, labels, value)`` for every DR family but the RPO's; returns the RPO's
    points (the exporter computes the seconds at scrape time). ``failing_copies`` counts the
    copy servers whose last protection cycle failed, per department (one series for each of
    the posture's departments; another department's are left out, so the bound holds)."""
    out = DrPoints()
    by_level: Counter[tuple[int, Compliance]] = Counter()
    copies: Counter[tuple[str, CopyState]] = Counter()
    missing: Counter[tuple[str, str]] = Counter()
    overdue: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    levels: set[int] = set()
    for row in posture.systems:
        levels.add(row.level)
        by_level[(row.level, row.verdict.status)] += 1
        for c in row.verdict.copies:
            copies[(c.site, c.state)] += 1
            missing[(row.department, c.site)] += c.state is CopyState.MISSING
        overdue[row.department] += row.verdict.drill.state is DrillState.OVERDUE
        failing[row.department] += _failing(row)
        if row.plan is not None and row.verdict.copies:
            out.points.append(((row.department, row.system, str(row.level)),
                               _oldest_point(row)))
        if row.last_drill is not None:
            add("govcloud_dr_last_drill_timestamp_seconds", (row.department, row.system),
                row.last_drill.at.timestamp())
    for level in sorted(levels):
        target = policy.for_level(level)
        add("govcloud_dr_rpo_target_seconds", (str(level),), target.rpo.total_seconds())
        add("govcloud_dr_rto_target_seconds", (str(level),), target.rto.total_seconds())
        for verdict in VERDICTS:
            add("govcloud_dr_province_systems", (str(level), verdict.value),
                by_level[(level, verdict)])
    for department, totals in posture.departments.items():
        for verdict, n in ((Compliance.COMPLIANT, totals.compliant),
                           (Compliance.AT_RISK, totals.at_risk),
                           (Compliance.NON_COMPLIANT, totals.non_compliant)):
            add("govcloud_dr_systems", (department, verdict.value), n)
        add("govcloud_dr_drills_overdue", (department,), overdue[department])
        add("govcloud_dr_drills_failing", (department,), failing[department])
        add("govcloud_dr_copies_failing", (department,),
            (failing_copies or {}).get(department, 0))
    for (department, site), n in sorted(missing.items()):
        add("govcloud_dr_copies_missing", (department, site), n)
    for site in sorted({site for site, _ in copies}):
        for state in STATES:
            add("govcloud_dr_copies", (site, state.value), copies[(site, state)])
    add("govcloud_dr_posture_timestamp_seconds", (), posture.at.timestamp())
    return out


def max_series(*, systems: int, departments: int, sites: int, levels: int = 6) -> int:
    """The most DR series a posture of this size exports (what the module's docstring
    counts): two per system, ``3 + sites + 3`` per department, 7 per site, 5 per level, 1."""
    return (2 * systems + departments * (len(VERDICTS) + sites + 3) + sites * len(STATES)
            + levels * (2 + len(VERDICTS)) + 1)


def rpo_seconds(point: float | None, now: float) -> float:
    """The current RPO of a point at ``now`` (a point after ``now``, clock skew, is 0)."""
    return float("inf") if point is None else max(0.0, now - point)
