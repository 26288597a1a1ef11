"""Migration waves: grouping, maintenance windows, readiness scores, gates and the step order.

Planning (``plan_waves``):

- hosts that talk to each other (the survey's dependency graph) and hosts of the same system
  move together: they are one *group*, never split across waves;
- the first wave is a **rehearsal**: the smallest group of the lowest DR level, so that the
  playbooks and the rollback are proven on the least critical system first; groups with a
  higher DR level (3 and up) never go before it;
- groups are packed into waves of at most ``max_hosts`` hosts whose data fits the window at
  the expected throughput; each wave gets its own maintenance window.

Readiness (``readiness``): a score out of 100 with one reason per criterion, and the entry gate
a wave must pass (every host at or above ``gate``; a bureau-admin may override, audited).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from govcloud.domain.legacy import LegacyHost, Survey, dependency_edges
from govcloud.domain.steps import StepStatus as StepStatus  # re-exported: waves' statuses
from govcloud.domain.steps import first_unfinished
from govcloud.errors import InvalidInput

# --- steps (the step machine is govcloud.domain.steps, shared with DR drills) ----------------


class Step(StrEnum):
    PRECHECK = "precheck"
    PROVISION = "provision"
    INITIAL_SYNC = "initial_sync"
    FREEZE = "freeze"
    FINAL_SYNC = "final_sync"
    CUTOVER = "cutover"
    VERIFY = "verify"
    DONE = "done"


STEPS: tuple[Step, ...] = tuple(Step)


def next_step(statuses: Mapping[Step, StepStatus]) -> Step | None:
    """The first step that has not succeeded (where a run resumes); None when all are done."""
    return first_unfinished(STEPS, statuses)


# Where a wave may stop when its change's window closes (docs/changes.md): before a step
# that leaves every host's service running. Once the freeze stopped a legacy host's service,
# the wave runs on through the final sync, the cutover and the check: stopping there would
# leave the service down until the next window.
SAFE_STOPS = frozenset({Step.PRECHECK, Step.PROVISION, Step.INITIAL_SYNC, Step.FREEZE})
FROZEN = frozenset({Step.FINAL_SYNC, Step.CUTOVER, Step.VERIFY})


def may_stop_before(step: Step, hosts: Iterable[Mapping[Step, StepStatus]]) -> bool:
    """May a run stop before ``step``, ``hosts`` (each host's statuses, those still going)
    being where they are? Only before a safe step, and while no host is frozen."""
    return step in SAFE_STOPS and not any(next_step(h) in FROZEN for h in hosts)


def past_cutover(statuses: Mapping[Step, StepStatus]) -> bool:
    """True once the cutover started: the target may hold writes the legacy host lacks."""
    return statuses.get(Step.CUTOVER) in (StepStatus.RUNNING, StepStatus.SUCCEEDED,
                                          StepStatus.FAILED, StepStatus.INTERRUPTED)


# --- DR level → sites ----------------------------------------------------------------------------

def sites_for_level(level: int) -> tuple[str, ...]:
    """The sites a system of DR ``level`` needs room in (see govcloud.domain.whatif):
    5–6 a standby in the same-city DR site, 3–4 a copy in the remote DR site."""
    if level >= 5:
        return ("PROD", "DR-LOCAL")
    if level >= 3:
        return ("PROD", "DR-REMOTE")
    return ("PROD",)


# --- readiness -------------------------------------------------------------------------------

SUPPORTED_OS: Mapping[str, tuple[str, ...]] = {
    "debian": ("10", "11", "12", "13"), "ubuntu": ("18.04", "20.04", "22.04", "24.04"),
    "rhel": ("7", "8", "9"), "centos": ("7", "8"), "rocky": ("8", "9"), "almalinux": ("8", "9"),
    "openEuler": ("20.03", "22.03", "24.03"), "kylin": ("V10",), "uos": ("20",),
}

WEIGHTS: Mapping[str, int] = {
    "surveyed": 20, "os": 15, "flavor": 15, "quota": 15, "window": 10, "signoff": 15,
    "rollback": 10,
}
DEFAULT_GATE = 100


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    ok: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "weight": WEIGHTS[self.name],
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Readiness:
    host: str
    score: int
    criteria: tuple[Criterion, ...]
    flavor: str | None = None

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.criteria if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "score": self.score, "flavor": self.flavor,
                "criteria": [c.to_dict() for c in self.criteria], "blocking": self.reasons}


def smallest_flavor(flavors: Iterable[Flavor], *, vcpus: int, ram_mb: int,
                    disk_gb: int) -> Flavor | None:
    """The smallest flavor (vCPU, then RAM, then disk) that holds the host."""
    fits = [f for f in flavors if f.vcpus >= vcpus and f.ram_mb >= ram_mb
            and f.disk_gb >= disk_gb]
    return min(fits, key=lambda f: (f.vcpus, f.ram_mb, f.disk_gb, f.name), default=None)


@dataclass(frozen=True, slots=True)
class Headroom:
    """Free quota of a department in one site: vCPU, RAM (MB), instances."""

    cores: int
    ram_mb: int
    instances: int


def readiness(host: LegacyHost, survey: Survey | None, *, dr_level: int,
              flavors: Sequence[Flavor], headroom: Mapping[str, Headroom],
              window_hours: float, throughput_mb_s: float, signed_off: bool,
              rollback_rehearsed: bool) -> Readiness:
    """The host's readiness: one criterion per question, each with its reason."""
    c: list[Criterion] = []
    if survey is None:
        c.append(Criterion("surveyed", False, "not surveyed yet (govcloud migrate survey)"))
    elif not survey.reachable:
        c.append(Criterion("surveyed", False, f"unreachable at the last survey: {survey.error}"))
    else:
        c.append(Criterion("surveyed", True, "surveyed and reachable"))
    ok_survey = survey is not None and survey.reachable
    os_id = survey.os_id if survey else None
    os_ver = survey.os_version if survey else None
    versions = SUPPORTED_OS.get(os_id or "", ())
    supported = bool(os_ver) and any(os_ver == v or (os_ver or "").startswith(v + ".")
                                     for v in versions)
    c.append(Criterion("os", supported,
                       f"OS {os_id} {os_ver} is supported" if supported else
                       f"OS {os_id or 'unknown'} {os_ver or ''} is not on the supported list"
                       .replace("  ", " ")))
    flavor = None
    if ok_survey and survey is not None:
        disk = max(survey.disk_gb, -(-survey.data_bytes // 1024**3))
        flavor = smallest_flavor(flavors, vcpus=survey.cpus or 1, ram_mb=survey.ram_mb or 1,
                                 disk_gb=disk)
        need = f"{survey.cpus} vCPU, {survey.ram_mb} MB RAM, {disk} GB disk"
        c.append(Criterion("flavor", flavor is not None,
                           f"flavor {flavor.name} fits ({need})" if flavor else
                           f"no flavor fits {need}"))
    else:
        c.append(Criterion("flavor", False, "flavor unknown until the host is surveyed"))
    short = []
    for site in sites_for_level(dr_level):
        room = headroom.get(site)
        if room is None:
            short.append(f"{site}: no quota known")
        elif flavor is not None and (room.cores < flavor.vcpus or room.ram_mb < flavor.ram_mb
                                     or room.instances < 1):
            short.append(f"{site}: {room.cores} vCPU, {room.ram_mb} MB, {room.instances} "
                         "instances free")
    sites = ", ".join(sites_for_level(dr_level))
    c.append(Criterion("quota", not short and flavor is not None,
                       f"quota headroom in {sites} (DR level {dr_level})" if not short and flavor
                       else "quota short: " + ("; ".join(short) or "flavor unknown")))
    if ok_survey and survey is not None:
        seconds = survey.data_bytes / (throughput_mb_s * 1024 * 1024)
        fits = seconds <= window_hours * 3600 / 2  # initial copy + final sync in one window
        c.append(Criterion("window", fits,
                           f"{survey.data_bytes / 1024**3:.1f} GB copies in "
                           f"{seconds / 60:.0f} min, "
                           f"{'within' if fits else 'beyond'} half the {window_hours:g} h window"))
    else:
        c.append(Criterion("window", False, "data size unknown until the host is surveyed"))
    c.append(Criterion("signoff", signed_off, "department sign-off recorded" if signed_off
                       else "no department sign-off recorded (govcloud migrate signoff)"))
    c.append(Criterion("rollback", rollback_rehearsed,
                       "rollback rehearsed" if rollback_rehearsed else
                       "rollback not rehearsed: roll back the rehearsal wave once first"))
    score = sum(WEIGHTS[x.name] for x in c if x.ok)
    return Readiness(host.name, score, tuple(c), flavor.name if flavor else None)


# --- planning ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def outside(self, now: datetime) -> str | None:
        """Why ``now`` is outside this window (None when it is inside)."""
        if self.start <= now <= self.end:
            return None
        state = "has not opened yet" if now < self.start else "has closed"
        return (f"its maintenance window {self.start:%Y-%m-%d %H:%M} – "
                f"{self.end:%Y-%m-%d %H:%M} UTC {state} (it is {now:%Y-%m-%d %H:%M} UTC)")


@dataclass(frozen=True, slots=True)
class PlannedWave:
    number: int
    hosts: tuple[str, ...]
    window: Window
    rehearsal: bool
    dr_level: int
    data_bytes: int
    groups: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def name(self) -> str:
        return f"w{self.number}"


def _components(names: Sequence[str], edges: Iterable[frozenset[str]]) -> list[list[str]]:
    parent = {n: n for n in names}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for edge in edges:
        a, b = sorted(edge)
        if a in parent and b in parent:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(find(n), []).append(n)
    return [sorted(g) for g in groups.values()]


def plan_waves(hosts: Sequence[LegacyHost], surveys: Mapping[str, Survey], *,
               dr_levels: Mapping[str, int], first_window: datetime, window_hours: float = 4,
               every_days: int = 7, max_hosts: int = 10,
               throughput_mb_s: float = 100.0) -> list[PlannedWave]:
    """Group ``hosts`` into waves (see the module's docstring). ``dr_levels``: host → level."""
    if max_hosts < 1 or window_hours <= 0 or every_days < 1 or throughput_mb_s <= 0:
        raise InvalidInput("max_hosts, window_hours, every_days and throughput must be positive")
    if not hosts:
        raise InvalidInput("no legacy hosts to plan", hint="govcloud hosts import FILE first")
    edges = dependency_edges(hosts, surveys)
    by_system: dict[str, list[str]] = {}
    for h in hosts:
        by_system.setdefault(h.system, []).append(h.name)
    for names in by_system.values():
        edges |= {frozenset({names[0], n}) for n in names[1:]}
    comps = _components([h.name for h in hosts], edges)

    def level(group: Sequence[str]) -> int:
        return max(dr_levels.get(n, 1) for n in group)

    def data(group: Sequence[str]) -> int:
        return sum(surveys[n].data_bytes for n in group if n in surveys)

    comps.sort(key=lambda g: (level(g), len(g), data(g), g[0]))
    budget = throughput_mb_s * 1024 * 1024 * window_hours * 3600 / 2
    rehearsal = comps[0]
    waves: list[list[list[str]]] = [[rehearsal]]
    current: list[list[str]] = []
    for group in comps[1:]:
        size = sum(len(g) for g in current) + len(group)
        volume = sum(data(g) for g in current) + data(group)
        if current and (size > max_hosts or volume > budget or
                        level(group) != level(current[-1])):
            waves.append(current)
            current = []
        current.append(group)
    if current:
        waves.append(current)
    planned = []
    for i, groups in enumerate(waves, start=1):
        members = tuple(n for g in groups for n in g)
        start = first_window + timedelta(days=every_days * (i - 1))
        planned.append(PlannedWave(
            number=i, hosts=members, window=Window(start, start + timedelta(hours=window_hours)),
            rehearsal=i == 1, dr_level=max(level(g) for g in groups),
            data_bytes=sum(data(g) for g in groups), groups=tuple(tuple(g) for g in groups)))
    return planned


# --- gates -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons)}


def entry_gate(scores: Mapping[str, Readiness], *, gate: int = DEFAULT_GATE,
               previous_done: bool = True, overridden: bool = False) -> GateResult:
    """May the wave start? Every host at or above ``gate`` (unless a bureau-admin overrode
    it), and the wave before it finished (its exit gate passed)."""
    reasons = []
    if not previous_done:
        reasons.append("the previous wave has not passed its exit gate")
    for name, r in sorted(scores.items()):
        if r.score < gate and not overridden:
            reasons.append(f"{name}: readiness {r.score} < {gate} ({'; '.join(r.reasons)})")
    return GateResult(not reasons, tuple(reasons))


def exit_gate(statuses: Mapping[str, Mapping[Step, StepStatus]]) -> GateResult:
    """Is the wave done? Every host verified (checksums equal, health check passed)."""
    reasons = [f"{h}: at {next_step(s)}" for h, s in sorted(statuses.items())
               if next_step(s) is not None]
    return GateResult(not reasons, tuple(reasons))
