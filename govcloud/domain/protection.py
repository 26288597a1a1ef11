"""Protection plans and their verdicts (pure): what keeps a system recoverable, and whether it is.

A *protection policy* says, for each DR level 1–6 (GB/T 20988-2007), which DR sites hold a copy
of a system (by site role) and of which kind, the target RPO and RTO, and how often the system
must be drilled. A *protection plan* is one system's (department + system) policy row resolved
against the configured sites; a system may tighten its RPO and RTO, never loosen them.

Copy kinds, by the server status each must have in its DR site:

=====  ===========================  =====================================================
kind   status                       meaning
=====  ===========================  =====================================================
hot    ``ACTIVE``                   a standby running, takes over in minutes
warm   ``SHUTOFF`` (or ``ACTIVE``)  a standby on a host, stopped: boots in minutes, holds
                                    its capacity
cold   ``SHELVED_OFFLOADED``        holds no compute capacity; unshelved on recovery
=====  ===========================  =====================================================

The verdict of a system (``judge``) is *compliant*, *at risk* or *non-compliant*, with every
reason in words, from its plan and what was observed: the DR sites' servers, the copies'
recovery points (current RPO = now − the latest one) and the last drill.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from govcloud.domain.provisioning import DR_LEVELS
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import check_identifier
from govcloud.errors import InvalidInput

_MINUTE, _HOUR, _DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


# --- GB/T 20988: what each level allows ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LevelRange:
    """One GB/T 20988 level: its RPO and RTO ranges as the standard words them, and the
    loosest target a system of that level may have (``max_rto`` None: no upper bound)."""

    level: int
    name: str
    rpo_range: str
    rto_range: str
    max_rpo: timedelta
    max_rto: timedelta | None


# ../shared/data/guangdong.yaml, dr_levels. "minutes" (level 6's RTO) is read as at most 30.
GBT_20988: Mapping[int, LevelRange] = {r.level: r for r in (
    LevelRange(1, "基本支持 basic support", "1-7 days", ">= 2 days", 7 * _DAY, None),
    LevelRange(2, "备用场地支持 backup site support", "1-7 days", ">= 24 hours", 7 * _DAY,
               None),
    LevelRange(3, "电子传输和部分设备支持 electronic transfer and partial equipment",
               "hours to 1 day", ">= 12 hours", _DAY, None),
    LevelRange(4, "电子传输及完整设备支持 electronic transfer and complete equipment",
               "hours to 1 day", "hours to 2 days", _DAY, 2 * _DAY),
    LevelRange(5, "实时数据传输及完整设备支持 real-time data transfer and complete equipment",
               "0-30 minutes", "minutes to 2 days", 30 * _MINUTE, 2 * _DAY),
    LevelRange(6, "数据零丢失和远程集群支持 zero data loss and remote cluster support",
               "0", "minutes", timedelta(0), 30 * _MINUTE),
)}


def format_duration(value: timedelta) -> str:
    """``30m``, ``7d``, ``1h30m``, ``0s``: the largest units first, whole seconds."""
    seconds = math.floor(value.total_seconds())
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


# --- the policy -----------------------------------------------------------------------------------

class StandbyKind(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


# The statuses a copy of each kind may be in, the most expected first.
READY_STATUSES: Mapping[StandbyKind, tuple[str, ...]] = {
    StandbyKind.HOT: ("ACTIVE",),
    StandbyKind.WARM: ("SHUTOFF", "ACTIVE"),
    StandbyKind.COLD: ("SHELVED_OFFLOADED",),
}
GONE_STATUSES = frozenset({"DELETED", "SOFT_DELETED"})
BROKEN_STATUSES = frozenset({"ERROR", "UNKNOWN"})
CHANGING_STATUSES = frozenset({"BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "MIGRATING",
                               "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "PASSWORD"})


@dataclass(frozen=True, slots=True)
class CopyRule:
    """A copy of the system in the site of ``role``, kept as ``kind``."""

    role: SiteRole
    kind: StandbyKind


@dataclass(frozen=True, slots=True)
class LevelPolicy:
    """What the policy asks of systems of one DR level (``drill_every_months`` None: no
    drill required)."""

    level: int
    rpo: timedelta
    rto: timedelta
    drill_every_months: int | None
    copies: tuple[CopyRule, ...]

    def __post_init__(self) -> None:
        if self.level not in DR_LEVELS:
            raise InvalidInput(f"unknown DR level {self.level!r}",
                               hint="DR levels are 1–6 (GB/T 20988)")
        std = GBT_20988[self.level]
        _check_target(f"DR level {self.level}'s RPO", self.rpo, std.max_rpo, std)
        _check_target(f"DR level {self.level}'s RTO", self.rto, std.max_rto, std)
        if self.drill_every_months is not None and not 1 <= self.drill_every_months <= 120:
            raise InvalidInput(f"DR level {self.level}: a drill every "
                               f"{self.drill_every_months} months is out of range",
                               hint="give 1–120 months, or none when no drill is required")
        roles = [c.role for c in self.copies]
        if len(set(roles)) != len(roles):
            raise InvalidInput(f"DR level {self.level}: a site role holds two copies",
                               hint="give each site role at most one copy")


def _check_target(what: str, value: timedelta, ceiling: timedelta | None,
                  std: LevelRange) -> None:
    if value < timedelta(0):
        raise InvalidInput(f"{what} {value} is negative", hint="a target is 0 or more")
    if ceiling is not None and value > ceiling:
        raise InvalidInput(
            f"{what} {format_duration(value)} is looser than the level allows: at most "
            f"{format_duration(ceiling)} (GB/T 20988: RPO {std.rpo_range}, RTO {std.rto_range})",
            hint="a level's targets may be tightened, never loosened; a system that cannot "
                 "meet them belongs to a lower DR level")


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    """The whole table: one row per DR level 1–6. A copy's RPO above ``rpo_warning`` of its
    target, or a drill due within ``drill_warning``, puts a system at risk."""

    levels: tuple[LevelPolicy, ...]
    rpo_warning: float = 0.8
    drill_warning: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if sorted(p.level for p in self.levels) != list(DR_LEVELS):
            raise InvalidInput("the protection policy must have exactly one row per DR level "
                               "1–6", hint="see the dr_protection setting in docs/dr.md")
        if not 0 < self.rpo_warning <= 1:
            raise InvalidInput(f"rpo_warning {self.rpo_warning} is out of range",
                               hint="a share of the target RPO, above 0 and at most 1 "
                                    "(e.g. 0.8)")
        if self.drill_warning < timedelta(0):
            raise InvalidInput("drill_warning is negative", hint="give 0 days or more")

    def for_level(self, level: int) -> LevelPolicy:
        for row in self.levels:
            if row.level == level:
                return row
        raise InvalidInput(f"unknown DR level {level!r}", hint="DR levels are 1–6 (GB/T 20988)")

    def plan(self, department: str, system: str, level: int, sites: Sequence[Site], *,
             rpo: timedelta | None = None, rto: timedelta | None = None) -> ProtectionPlan:
        """The plan of one system of ``level``; ``rpo``/``rto`` tighten the level's."""
        check_identifier(department, "department")
        check_identifier(system, "system")
        row = self.for_level(level)
        name = f"{department}/{system}"
        copies = []
        for rule in row.copies:
            site = next((s for s in sites if s.role is rule.role), None)
            if site is None:
                raise InvalidInput(f"{name}: DR level {level} keeps a {rule.kind} copy in a "
                                   f"{rule.role} site, and no such site is configured",
                                   hint="configure the site, or change dr_policy and "
                                        "dr_protection (docs/dr.md)")
            copies.append(PlannedCopy(site.name, rule.role, rule.kind))
        target_rpo = _tighten(name, "RPO", rpo, row.rpo, level)
        replication = synchronous_for(target_rpo)
        return ProtectionPlan(
            department, system, level, target_rpo,
            _tighten(name, "RTO", rto, row.rto, level), row.drill_every_months,
            tuple(PlannedCopy(c.site, c.role, c.kind, replication) for c in copies),
            self.rpo_warning, self.drill_warning)


def _tighten(name: str, what: str, wanted: timedelta | None, level_target: timedelta,
             level: int) -> timedelta:
    if wanted is None:
        return level_target
    if wanted < timedelta(0):
        raise InvalidInput(f"{name}: {what} {wanted} is negative", hint="a target is 0 or more")
    if wanted > level_target:
        raise InvalidInput(
            f"{name}: {what} {format_duration(wanted)} is looser than DR level {level}'s "
            f"{format_duration(level_target)}",
            hint=f"a system may only tighten its {what}; leave it out to use the level's, or "
                 "give the system a lower DR level")
    return wanted


class Replication(StrEnum):
    """How a copy's data is kept current: by protection cycles (snapshots, backups, file
    sync: an RPO of their interval), or synchronously by the storage (an RPO of 0, which only
    a replicated Cinder volume type gives; govcloud checks the volumes are of it)."""

    CYCLES = "cycles"
    SYNCHRONOUS = "synchronous"


def synchronous_for(rpo: timedelta) -> Replication:
    """A target RPO of 0 (level 6, or a system tightened to it) can only be met by
    synchronous replication; any other by cycles."""
    return Replication.SYNCHRONOUS if rpo == timedelta(0) else Replication.CYCLES


@dataclass(frozen=True, slots=True)
class PlannedCopy:
    site: str
    role: SiteRole
    kind: StandbyKind
    replication: Replication = Replication.CYCLES


@dataclass(frozen=True, slots=True)
class ProtectionPlan:
    """One system's protection: its level's row resolved to site names, targets tightened."""

    department: str
    system: str
    level: int
    rpo: timedelta
    rto: timedelta
    drill_every_months: int | None
    copies: tuple[PlannedCopy, ...]
    rpo_warning: float = 0.8
    drill_warning: timedelta = timedelta(days=30)


# --- what was observed --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Member:
    """A server of the system as production defines it; each copy holds one of the same name
    and flavor."""

    name: str
    flavor: str


@dataclass(frozen=True, slots=True)
class ObservedServer:
    site: str
    name: str
    status: str
    flavor: str | None


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    site: str
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class ReplicationCheck:
    """The protection worker's last check of a synchronous copy in a site: whether every
    copy server's volumes there are of the replicated volume type (``detail``: what is not),
    and when it was checked."""

    site: str
    ok: bool
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Drill:
    """The last drill: when, whether it passed, the RTO it achieved (None when it failed
    before the system was healthy)."""

    at: datetime
    passed: bool
    rto: timedelta | None = None


def latest_recovery_point(points: Iterable[RecoveryPoint], site: str) -> datetime | None:
    return max((p.taken_at for p in points if p.site == site), default=None)


def current_rpo(latest: datetime | None, now: datetime) -> timedelta | None:
    """now − the latest recovery point (None: there is none). A point stamped after ``now``
    (clock skew) counts as 0."""
    if latest is None:
        return None
    return max(now - latest, timedelta(0))


def add_months(when: datetime, months: int) -> datetime:
    """The same day ``months`` later, or that month's last day (31 Aug + 6 → 28/29 Feb)."""
    total = when.month - 1 + months
    year, month = when.year + total // 12, total % 12 + 1
    return when.replace(year=year, month=month,
                        day=min(when.day, calendar.monthrange(year, month)[1]))


class DrillState(StrEnum):
    NOT_REQUIRED = "not required"
    OK = "ok"
    DUE_SOON = "due soon"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class DrillStatus:
    state: DrillState
    due_at: datetime | None  # None: not required, or never drilled with no start to count from


def drill_status(every_months: int | None, last: datetime | None, now: datetime, *,
                 since: datetime | None = None,
                 warning: timedelta = timedelta(days=30)) -> DrillStatus:
    """Whether a drill is due: ``every_months`` after the last drill, or after ``since`` (when
    the system became protected) for its first one. Due exactly now is "due soon"; a second
    later it is overdue. Never drilled and no ``since``: overdue."""
    if every_months is None:
        return DrillStatus(DrillState.NOT_REQUIRED, None)
    start = last or since
    if start is None:
        return DrillStatus(DrillState.OVERDUE, None)
    due = add_months(start, every_months)
    if now > due:
        return DrillStatus(DrillState.OVERDUE, due)
    if now >= due - warning:
        return DrillStatus(DrillState.DUE_SOON, due)
    return DrillStatus(DrillState.OK, due)


# --- the verdict ----------------------------------------------------------------------------------

class Compliance(StrEnum):
    COMPLIANT = "compliant"
    AT_RISK = "at risk"
    NON_COMPLIANT = "non-compliant"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Compliance.COMPLIANT: 0, Compliance.AT_RISK: 1, Compliance.NON_COMPLIANT: 2}


class CopyState(StrEnum):
    """A copy as the posture shows it: its worst server's state."""

    PRESENT = "present"
    CHANGING = "changing"              # a server in a transitional status (BUILD, RESIZE, ...)
    HOLDS_CAPACITY = "holds capacity"  # a cold copy running where it should be shelved
    NOT_READY = "not ready"            # a hot or warm standby shelved or stopped
    WRONG_FLAVOR = "wrong flavor"
    ERROR = "error"
    MISSING = "missing"

    @property
    def severity(self) -> Compliance:
        if self is CopyState.PRESENT:
            return Compliance.COMPLIANT
        if self in (CopyState.CHANGING, CopyState.HOLDS_CAPACITY):
            return Compliance.AT_RISK
        return Compliance.NON_COMPLIANT


_STATE_ORDER = list(CopyState)
_HEADLINE = {
    CopyState.CHANGING: "changing state",
    CopyState.HOLDS_CAPACITY: "holding compute capacity: a cold copy must be "
                              "SHELVED_OFFLOADED",
    CopyState.NOT_READY: "not ready",
    CopyState.WRONG_FLAVOR: "of the wrong flavor",
    CopyState.ERROR: "in error",
    CopyState.MISSING: "missing",
}
MAX_NAMED = 3  # servers named in one reason; the rest are counted


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Compliance
    reason: str


@dataclass(frozen=True, slots=True)
class CopyFinding:
    """One planned copy as observed: its state, its latest recovery point and current RPO."""

    site: str
    kind: StandbyKind
    state: CopyState
    recovery_point: datetime | None
    rpo: timedelta | None
    findings: tuple[Finding, ...]
    replication: Replication = Replication.CYCLES  # synchronous: RPO 0 by replication


def server_state(kind: StandbyKind, member: Member,
                 server: ObservedServer | None) -> tuple[CopyState, str]:
    """One member's copy in a site: its state and, unless present, what is wrong in words."""
    if server is None or server.status in GONE_STATUSES:
        return CopyState.MISSING, member.name
    if server.status in BROKEN_STATUSES:
        return CopyState.ERROR, f"{member.name} is {server.status}"
    if server.flavor != member.flavor:
        return CopyState.WRONG_FLAVOR, f"{member.name} is {server.flavor}, not {member.flavor}"
    if server.status in READY_STATUSES[kind]:
        return CopyState.PRESENT, f"{member.name} is {server.status}"
    if server.status in CHANGING_STATUSES:
        return CopyState.CHANGING, f"{member.name} is {server.status}"
    if kind is StandbyKind.COLD:
        return CopyState.HOLDS_CAPACITY, f"{member.name} is {server.status}"
    wanted = " or ".join(READY_STATUSES[kind])
    return CopyState.NOT_READY, (f"{member.name} is {server.status}; a {kind} standby must be "
                                 f"{wanted}")


def assess_copy(plan: ProtectionPlan, copy: PlannedCopy, members: Sequence[Member],
                servers: Mapping[tuple[str, str], Sequence[ObservedServer]],
                latest: datetime | None, now: datetime,
                check: ReplicationCheck | None = None) -> CopyFinding:
    """A copy's state (its worst server's; of servers sharing a name, the best one counts)
    and its findings: servers, then RPO against the plan's target."""
    by_state: dict[CopyState, list[str]] = {}
    for member in members:
        candidates: Sequence[ObservedServer | None] = servers.get((copy.site, member.name)) \
            or [None]
        state, detail = min((server_state(copy.kind, member, s) for s in candidates),
                            key=lambda r: _STATE_ORDER.index(r[0]))
        by_state.setdefault(state, []).append(detail)
    where = f"{copy.site} ({copy.kind} copy)"
    findings = [Finding(state.severity, f"{where}: {len(details)} of {len(members)} servers "
                                        f"{_HEADLINE[state]} ({_named(details)})")
                for state, details in sorted(by_state.items(),
                                             key=lambda kv: -_STATE_ORDER.index(kv[0]))
                if state is not CopyState.PRESENT]
    state = max(by_state, key=_STATE_ORDER.index, default=CopyState.PRESENT)
    if copy.replication is Replication.SYNCHRONOUS:
        found, latest, rpo = _replication_findings(where, check)
        findings.extend(found)
        return CopyFinding(copy.site, copy.kind, state, latest, rpo, tuple(findings),
                           copy.replication)
    rpo = current_rpo(latest, now)
    findings.extend(_rpo_findings(plan, where, latest, rpo))
    return CopyFinding(copy.site, copy.kind, state, latest, rpo, tuple(findings))


def _replication_findings(where: str, check: ReplicationCheck | None
                          ) -> tuple[list[Finding], datetime | None, timedelta | None]:
    """A synchronous copy's RPO is 0 by replication while its last check found every volume
    of the replicated type; else it has no RPO govcloud can vouch for."""
    if check is None:
        return ([Finding(Compliance.NON_COMPLIANT, f"{where}: synchronous replication not "
                                                   "checked yet")], None, None)
    if not check.ok:
        return ([Finding(Compliance.NON_COMPLIANT, f"{where}: not replicated synchronously: "
                                                   f"{check.detail}")], None, None)
    return [], check.at, timedelta(0)


def _named(details: Sequence[str]) -> str:
    more = len(details) - MAX_NAMED
    return "; ".join(details[:MAX_NAMED]) + (f"; and {more} more" if more > 0 else "")


def _rpo_findings(plan: ProtectionPlan, where: str, latest: datetime | None,
                  rpo: timedelta | None) -> list[Finding]:
    if latest is None or rpo is None:
        return [Finding(Compliance.NON_COMPLIANT, f"{where}: no recovery point yet")]
    figures = (f"RPO {format_duration(rpo)} against a target of {format_duration(plan.rpo)} "
               f"(last recovery point {latest.isoformat(timespec='seconds')})")
    if rpo > plan.rpo:
        return [Finding(Compliance.NON_COMPLIANT, f"{where}: {figures}: breached")]
    if rpo > plan.rpo * plan.rpo_warning:
        return [Finding(Compliance.AT_RISK, f"{where}: {figures}: over "
                                            f"{plan.rpo_warning:.0%} of the target")]
    return []


def drill_findings(plan: ProtectionPlan, last: Drill | None, status: DrillStatus) -> list[Finding]:
    """What the last drill and the drill schedule say about the system."""
    out = []
    due = status.due_at.date().isoformat() if status.due_at else None
    if status.state is DrillState.OVERDUE:
        text = f"a drill was due on {due}" if due else "never drilled"
        out.append(Finding(Compliance.NON_COMPLIANT, f"drill overdue: {text} (every "
                                                     f"{plan.drill_every_months} months)"))
    elif status.state is DrillState.DUE_SOON:
        out.append(Finding(Compliance.AT_RISK, f"drill due on {due}"))
    if last is not None:
        when = last.at.date().isoformat()
        if not last.passed:
            out.append(Finding(Compliance.NON_COMPLIANT, f"the last drill ({when}) failed"))
        elif last.rto is not None and last.rto > plan.rto:
            out.append(Finding(Compliance.NON_COMPLIANT,
                               f"the last drill ({when}) recovered in "
                               f"{format_duration(last.rto)}, over the target RTO of "
                               f"{format_duration(plan.rto)}"))
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    """The system's verdict, every reason worst first (a compliant one says why it is), its
    copies and its drill schedule."""

    status: Compliance
    reasons: tuple[str, ...]
    copies: tuple[CopyFinding, ...]
    drill: DrillStatus


def judge(plan: ProtectionPlan, members: Sequence[Member], servers: Iterable[ObservedServer],
          points: Iterable[RecoveryPoint], last_drill: Drill | None, now: datetime, *,
          since: datetime | None = None,
          replication: Mapping[str, ReplicationCheck] | None = None) -> Verdict:
    """The verdict of one system. ``servers``: what the DR sites hold (other servers are
    ignored); ``since``: when the system became protected (its first drill is due one
    interval later); ``replication``: the last replication check of each synchronous copy,
    by site."""
    index: dict[tuple[str, str], list[ObservedServer]] = {}
    for server in servers:
        index.setdefault((server.site, server.name), []).append(server)
    points = tuple(points)
    checks = replication or {}
    copies = tuple(assess_copy(plan, c, members, index, latest_recovery_point(points, c.site),
                               now, checks.get(c.site)) for c in plan.copies)
    status = drill_status(plan.drill_every_months, last_drill.at if last_drill else None, now,
                          since=since, warning=plan.drill_warning)
    findings = [f for c in copies for f in c.findings]
    if plan.copies and not members:
        findings.append(Finding(Compliance.AT_RISK, "no servers of the system are known in "
                                                    "production: its copies cannot be checked"))
    findings.extend(drill_findings(plan, last_drill, status))
    if not findings:
        return Verdict(Compliance.COMPLIANT, (_all_well(plan, copies, last_drill),), copies,
                       status)
    findings.sort(key=lambda f: -f.severity.rank)
    return Verdict(findings[0].severity, tuple(f.reason for f in findings), copies, status)


def _all_well(plan: ProtectionPlan, copies: Sequence[CopyFinding], last: Drill | None) -> str:
    held = (f"{len(copies)} copies within RPO {format_duration(plan.rpo)}" if copies
            else f"DR level {plan.level} keeps no copy outside production")
    drilled = (f"last drill {last.at.date().isoformat()} passed" if last
               else "no drill required" if plan.drill_every_months is None
               else "first drill not yet due")
    return f"{held}; {drilled}"
