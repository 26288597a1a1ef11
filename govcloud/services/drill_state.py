"""A DR drill's context and stored state, shared by its use cases (``services.drill``) and
its run (``services.drill_run``): what the run saw and made (``state_json`` of the drill's
row) and the evidence record built from it (``domain.drill_evidence``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.drill_evidence import (
    Checksum,
    DrillEvidence,
    StepEvidence,
    SystemEvidence,
)
from govcloud.domain.drills import DRILL_STEPS, DrillState
from govcloud.domain.protection import ProtectionPolicy
from govcloud.domain.sites import Site
from govcloud.domain.steps import StepStatus
from govcloud.services import dr_runs
from govcloud.services.changes import ChangeContext
from govcloud.services.notifications import Notifier
from govcloud.settings import Settings
from govcloud.store import drill_repo as repo
from govcloud.store.inventory import aware
from govcloud.store.tables import utcnow
from govcloud.store.tables_drill import DrillPlanRow

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks" / "dr"
Clock = Callable[[], datetime]


@dataclass
class DrillContext:
    """What drills need: the store, the settings (sites, policy, SSH), the sites' admin
    connections (``{site: openstacksdk Connection}``, made on first use) and a clock."""

    engine: Engine
    settings: Settings
    connections: Callable[[], Mapping[str, Any]]
    clock: Clock = utcnow
    playbooks: Path = PLAYBOOKS
    stale_after_s: float = 30.0
    heartbeat_s: float = 2.0
    active_timeout_s: float = 600.0
    notify: Notifier | None = None  # tells the department (None: nobody is told)
    # the change gate (None: a context without change control, as tools and tests make)
    changes: ChangeContext | None = None

    @property
    def sites(self) -> tuple[Site, ...]:
        return self.settings.site_list()

    @property
    def policy(self) -> ProtectionPolicy:
        return self.settings.protection_policy()


def state_of(row: DrillPlanRow) -> dict[str, Any]:
    return dr_runs.state_of(row)


def update_state(ctx: DrillContext, drill_id: int, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the drill's stored state, now (committed)."""
    return dr_runs.update_state(ctx.engine, repo.get, drill_id, **changes)


def read(ctx: DrillContext, drill_id: int) -> tuple[DrillPlanRow, dict[str, StepStatus]]:
    return dr_runs.read(ctx.engine, repo.get, repo.steps, drill_id)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _system(s: Mapping[str, Any], health: Mapping[str, Any], started: datetime | None
            ) -> SystemEvidence:
    healthy_at = _when(health.get("healthy_at"))
    checks = [Checksum(c["server"], c["path"], c["expected"], c.get("actual"))
              for c in health.get("checksums", []) if c.get("system") == s["system"]]
    point_at = _when(s.get("point_at"))
    healthy = bool(health.get("healthy", {}).get(s["system"]))
    return SystemEvidence(
        system=s["system"], servers=tuple(m["member"] for m in s.get("servers", [])),
        point_at=point_at, target_rpo_s=s.get("target_rpo_s"),
        target_rto_s=s.get("target_rto_s"),
        achieved_rpo_s=(started - point_at).total_seconds()
        if started is not None and point_at is not None else None,
        achieved_rto_s=(healthy_at - started).total_seconds()
        if healthy and started is not None and healthy_at is not None else None,
        healthy=healthy, checksums=tuple(checks), problems=tuple(s.get("problems", [])))


def evidence_of(session: Session, row: DrillPlanRow, *, result: str | None = None,
                now: datetime | None = None) -> DrillEvidence:
    """The evidence as the stored rows say now (``result``: the one being recorded)."""
    assert row.id is not None
    state = state_of(row)
    started = aware(row.started_at)
    by_step = {r.step: r for r in repo.steps(session, row.id)}
    steps = []
    for step in DRILL_STEPS:
        r = by_step.get(step.value)
        if r is None:
            steps.append(StepEvidence(step.value, StepStatus.PENDING.value, None, None))
        else:
            steps.append(StepEvidence(step.value, r.status, aware(r.started_at),
                                      aware(r.finished_at), r.output or ""))
    health = state.get("health", {})
    leftovers = state.get("leftovers")
    return DrillEvidence(
        drill_id=row.id, department=row.department, system=row.system, site=row.site,
        result=result or row.state, requester=row.requester, approver=row.approver,
        runner=row.runner, started_at=started,
        finished_at=now or aware(row.finished_at), steps=tuple(steps),
        systems=tuple(_system(s, health, started) for s in state.get("systems", [])),
        leftovers=tuple(leftovers or ()), leftovers_checked=leftovers is not None,
        prod_changes=tuple(state.get("prod_changes") or ()),
        prod_compared=state.get("prod_changes") is not None)


def finished(state: str) -> bool:
    return state in (DrillState.PASSED.value, DrillState.FAILED.value)
