"""DR drills: their SQL (tables in ``tables_drill``). A drill's summary for the posture is
written with ``protection_repo.add_drill``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from govcloud.domain.steps import StepStatus
from govcloud.errors import NotFound
from govcloud.store.tables_drill import DrillPlanRow, DrillStepRow

MAX_LIST = 500


def add_plan(session: Session, row: DrillPlanRow) -> int:
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def find(session: Session, drill_id: int) -> DrillPlanRow | None:
    return session.get(DrillPlanRow, drill_id)


def get(session: Session, drill_id: int) -> DrillPlanRow:
    row = session.get(DrillPlanRow, drill_id)
    if row is None:
        raise NotFound(f"no drill {drill_id}", hint="list them: `govcloud dr drill show`")
    return row


def plans(session: Session, departments: Sequence[str] | None = None, *,
          limit: int = 100) -> list[DrillPlanRow]:
    """Drills (of ``departments``; None: all), newest first."""
    query = select(DrillPlanRow).order_by(col(DrillPlanRow.id).desc()) \
        .limit(max(1, min(limit, MAX_LIST)))
    if departments is not None:
        query = query.where(col(DrillPlanRow.department).in_(list(departments)))
    return list(session.exec(query).all())


def orphaned(session: Session, *, before: datetime) -> list[tuple[int, str]]:
    """(drill, run) of every running drill whose run's heartbeat stopped before ``before``:
    the process running it died (``services.run_takeover``)."""
    rows = session.exec(select(DrillPlanRow.id, DrillPlanRow.run_id).where(
        DrillPlanRow.state == "running", col(DrillPlanRow.run_id).is_not(None),
        col(DrillPlanRow.heartbeat_at) < before).order_by(col(DrillPlanRow.id)))
    return [(drill, run) for drill, run in rows if drill is not None and run is not None]


def steps(session: Session, drill_id: int) -> list[DrillStepRow]:
    return list(session.exec(select(DrillStepRow)
                             .where(DrillStepRow.drill_id == drill_id)).all())


def set_step(session: Session, drill_id: int, step: str, status: StepStatus, *,
             at: datetime, output: str | None = None) -> None:
    """Record a step's status: started when it becomes running, finished otherwise; the
    output (bounded) replaces the last one when given."""
    row = session.get(DrillStepRow, (drill_id, step)) or DrillStepRow(drill_id=drill_id,
                                                                       step=step)
    row.status = status.value
    if status is StepStatus.RUNNING:
        row.started_at, row.finished_at = at, None
    elif status is not StepStatus.PENDING:
        row.finished_at = at
    if output is not None:
        row.output = output[-20_000:]
    session.add(row)


def interrupt_running(session: Session, drill_id: int, at: datetime) -> None:
    """The steps a dead run left running become interrupted (``step_machine.claim``)."""
    for r in steps(session, drill_id):
        if r.status == StepStatus.RUNNING:
            r.status, r.finished_at = StepStatus.INTERRUPTED.value, at
            r.output = (r.output or "") + "\ninterrupted: the run that held it ended"
            session.add(r)


def reset_steps(session: Session, drill_id: int, names: Sequence[str]) -> None:
    """Make ``names`` pending again (a cleanup runs the teardown and the check anew)."""
    for r in steps(session, drill_id):
        if r.step in names:
            r.status = StepStatus.PENDING.value
            session.add(r)
