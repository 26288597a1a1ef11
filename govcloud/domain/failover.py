"""DR failover and failback (pure): the kinds, the steps a run goes through, its states, the
confirmation a disruptive action needs, the data-loss window and the site-level plan.

A failover moves one system's service from the site it runs in (production, or the DR site
after an earlier failover) to another site holding its copy. It runs on the resumable step
machine shared with migration waves and drills (``govcloud.domain.steps``):

* **planned**: freeze writes → final protection cycle → stop the primary → promote the copy →
  move the service endpoint record → verify;
* **unplanned** (the primary site is unreachable): the first three are skipped, the copy is
  promoted from its latest recovery point and the data-loss window is reported;
* **failback**: a planned failover back to production, once the system is reprotected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import check_identifier
from govcloud.errors import ConflictError, InvalidInput


class FailoverKind(StrEnum):
    PLANNED = "planned"
    UNPLANNED = "unplanned"
    FAILBACK = "failback"


class FailoverStep(StrEnum):
    FREEZE = "freeze"                  # a playbook stops writes on the primary's servers
    FINAL_CYCLE = "final_cycle"        # one last protection cycle of the copy
    STOP_PRIMARY = "stop_primary"      # nova stop of the primary's servers
    PROMOTE = "promote"                # unshelve a cold copy, start a warm one (hot: running)
    MOVE_ENDPOINT = "move_endpoint"    # the service endpoint record points at the copy
    VERIFY = "verify"                  # a playbook: the service answers at the new endpoint


FAILOVER_STEPS: tuple[FailoverStep, ...] = tuple(FailoverStep)
# the steps an unplanned failover skips: they need the primary site, which is lost
NEEDS_PRIMARY: tuple[FailoverStep, ...] = (FailoverStep.FREEZE, FailoverStep.FINAL_CYCLE,
                                           FailoverStep.STOP_PRIMARY)


class FailoverState(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"          # a step failed: run the same failover again to resume
    INTERRUPTED = "interrupted"  # the run ended mid-way (cancelled, crashed): run it again


FINISHED = (FailoverState.DONE,)


class RoleState(StrEnum):
    """Where a system stands between failover and failback (``dr_system_role``)."""

    FAILED_OVER = "failed-over"    # serves from the DR site; nothing protects it yet
    REPROTECTED = "reprotected"    # serves from the DR site; the former primary is its copy
    NORMAL = "normal"              # serves from production again (after a failback)


MAX_SYSTEM = 128


@dataclass(frozen=True, slots=True)
class FailoverAsk:
    """What a failover is asked for: a department's system from one site to another."""

    department: str
    system: str
    source: str
    target: str
    kind: FailoverKind

    def __post_init__(self) -> None:
        check_identifier(self.department, "department")
        check_identifier(self.system, "system")
        if len(self.department) > 64 or len(self.system) > MAX_SYSTEM:
            raise InvalidInput("a department code has at most 64 characters, a system name "
                               f"at most {MAX_SYSTEM}")
        check_identifier(self.target, "site")
        if self.source == self.target:
            raise InvalidInput(f"{self.system} already runs in {self.target}",
                               hint="fail over to another site holding its copy")


def check_confirm(name: str, confirm: str | None, *, what: str = "system") -> None:
    """A failover stops a service: the caller names the system (or the site) again
    (``--confirm NAME``)."""
    if confirm != name:
        stops = "its service" if what == "system" else "every service there"
        raise InvalidInput(f"a failover of {name} stops {stops}; confirm it by naming the "
                           f"{what}", hint=f"add `--confirm {name}`")


def production(sites: Sequence[Site]) -> Site:
    found = next((s for s in sites if s.role is SiteRole.PRODUCTION), None)
    if found is None:
        raise InvalidInput("no production site is configured")
    return found


def check_target(target: str, sites: Sequence[Site], *, kind: FailoverKind) -> Site:
    """The site a failover goes to: a DR site (same-city or remote); a failback goes to
    production."""
    if kind is FailoverKind.FAILBACK:
        return production(sites)
    dr = [s for s in sites if s.role in (SiteRole.SAME_CITY_DR, SiteRole.REMOTE_DR)]
    found = next((s for s in dr if s.name == target), None)
    if found is None:
        raise InvalidInput(f"a failover goes to a DR site, not {target[:64]!r}",
                           hint="DR sites: " + (", ".join(s.name for s in dr) or "none"))
    return found


def skipped(kind: FailoverKind) -> dict[FailoverStep, str]:
    """The steps a run of ``kind`` skips, with why."""
    if kind is FailoverKind.UNPLANNED:
        return dict.fromkeys(NEEDS_PRIMARY, "unplanned failover: the primary site is unreachable")
    return {}


def data_loss_s(lost_at: datetime, point_at: datetime | None) -> float | None:
    """The data-loss window of an unplanned failover: the age of the recovery point promoted
    at the moment of the loss (a point stamped after it counts as 0); None without a point."""
    if point_at is None:
        return None
    return max(0.0, (lost_at - point_at).total_seconds())


# --- the site-level plan --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SiteSystem:
    """A system of the lost site as the site plan orders it."""

    department: str
    system: str
    level: int
    members: int
    target: str | None   # the site its copy is promoted in (None: no copy to fail over to)


@dataclass(frozen=True, slots=True)
class SitePlan:
    site: str
    waves: tuple[tuple[SiteSystem, ...], ...]
    not_protected: tuple[SiteSystem, ...]
    receiving: tuple[Mapping[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        def one(s: SiteSystem) -> dict[str, Any]:
            return {"department": s.department, "system": s.system, "level": s.level,
                    "members": s.members, "target": s.target}
        return {"site": self.site, "fits": True,
                "waves": [{"wave": i + 1, "level": w[0].level, "systems": [one(s) for s in w]}
                          for i, w in enumerate(self.waves)],
                "not_protected": [one(s) for s in self.not_protected],
                "receiving": [dict(r) for r in self.receiving]}


def _short(r: Mapping[str, Any]) -> str:
    short = r.get("shortfall") or {}
    parts = [f"{short[k]:,} {label}" for k, label in (("vcpu", "vCPUs"), ("ram_mb", "MiB RAM"),
                                                       ("disk_gb", "GiB disk"))
             if short.get(k)]
    return f"{r['site']} is short of {', '.join(parts) or 'capacity'}"


def site_plan(site: str, systems: Sequence[SiteSystem], receiving: Sequence[Mapping[str, Any]],
              *, wave_size: int = 20) -> SitePlan:
    """Order the lost site's systems by DR level (highest first; then department, system),
    in waves of one level and at most ``wave_size`` systems; refuse (``ConflictError`` saying
    what is short) when a receiving site cannot take what moves to it (the what-if's
    ``receiving``, ``Receiving.to_dict``)."""
    short = [r for r in receiving if not r.get("fits", True)]
    if short:
        raise ConflictError(f"losing {site}: " + "; ".join(_short(r) for r in short),
                            hint="free capacity there (`govcloud capacity --what-if-lose "
                                 f"{site}`) before failing the site over")
    movable = sorted((s for s in systems if s.target is not None),
                     key=lambda s: (-s.level, s.department, s.system))
    waves: list[tuple[SiteSystem, ...]] = []
    for s in movable:
        if waves and waves[-1][0].level == s.level and len(waves[-1]) < wave_size:
            waves[-1] = (*waves[-1], s)
        else:
            waves.append((s,))
    rest = tuple(sorted((s for s in systems if s.target is None),
                        key=lambda s: (-s.level, s.department, s.system)))
    return SitePlan(site, tuple(waves), rest, tuple(receiving))
