"""DR failovers: their SQL (tables in ``tables_failover``), and the service endpoint record a
failover moves (``system_endpoint``, the table migration cutover switches)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from govcloud.domain.legacy import Endpoint
from govcloud.domain.steps import StepStatus
from govcloud.errors import NotFound
from govcloud.store.tables_failover import FailoverRow, FailoverStepRow, SystemRoleRow
from govcloud.store.tables_migration import SystemEndpointRow

MAX_LIST = 500


def add(session: Session, row: FailoverRow) -> int:
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def find(session: Session, failover_id: int) -> FailoverRow | None:
    return session.get(FailoverRow, failover_id)


def get(session: Session, failover_id: int) -> FailoverRow:
    row = session.get(FailoverRow, failover_id)
    if row is None:
        raise NotFound(f"no failover {failover_id}",
                       hint="list them: `govcloud dr failovers`")
    return row


def unfinished(session: Session, department: str, system: str) -> FailoverRow | None:
    """The system's newest failover that did not finish (a run resumes it), if any."""
    return session.exec(select(FailoverRow)
                        .where(FailoverRow.department == department,
                               FailoverRow.system == system,
                               col(FailoverRow.state) != "done")
                        .order_by(col(FailoverRow.id).desc()).limit(1)).first()


def listing(session: Session, departments: Sequence[str] | None = None, *,
            limit: int = 100) -> list[FailoverRow]:
    """Failovers (of ``departments``; None: all), newest first."""
    query = select(FailoverRow).order_by(col(FailoverRow.id).desc()) \
        .limit(max(1, min(limit, MAX_LIST)))
    if departments is not None:
        query = query.where(col(FailoverRow.department).in_(list(departments)))
    return list(session.exec(query).all())


def steps(session: Session, failover_id: int) -> list[FailoverStepRow]:
    return list(session.exec(select(FailoverStepRow)
                             .where(FailoverStepRow.failover_id == failover_id)).all())


def set_step(session: Session, failover_id: int, step: str, status: StepStatus, *,
             at: datetime, output: str | None = None) -> None:
    """Record a step's status: started when it becomes running, finished otherwise."""
    row = session.get(FailoverStepRow, (failover_id, step)) or FailoverStepRow(
        failover_id=failover_id, step=step)
    row.status = status.value
    if status is StepStatus.RUNNING:
        row.started_at, row.finished_at = at, None
    elif status is not StepStatus.PENDING:
        row.finished_at = at
    if output is not None:
        row.output = output[-20_000:]
    session.add(row)


def interrupt_running(session: Session, failover_id: int, at: datetime) -> None:
    """The steps a dead run left running become interrupted (``step_machine.claim``)."""
    for r in steps(session, failover_id):
        if r.status == StepStatus.RUNNING:
            r.status, r.finished_at = StepStatus.INTERRUPTED.value, at
            r.output = (r.output or "") + "\ninterrupted: the run that held it ended"
            session.add(r)


def role(session: Session, department: str, system: str) -> SystemRoleRow | None:
    return session.get(SystemRoleRow, (department, system))


def roles(session: Session) -> list[SystemRoleRow]:
    return list(session.exec(select(SystemRoleRow)).all())


def set_role(session: Session, department: str, system: str, *, primary: str,
             copy_site: str | None, state: str, failover_id: int | None,
             at: datetime) -> SystemRoleRow:
    row = role(session, department, system) or SystemRoleRow(
        department=department, system=system, primary_site=primary, state=state,
        changed_at=at)
    row.primary_site, row.copy_site, row.state = primary, copy_site, state
    row.failover_id, row.changed_at = failover_id, at
    session.add(row)
    return row


def set_endpoint(session: Session, *, host: str, department: str, system: str, site: str,
                 endpoint: Endpoint, at: datetime) -> None:
    """Point the service endpoint record of ``host`` (a member of the system) at its server
    in ``site``: ``side`` is the site's name (migration writes legacy or target)."""
    row = session.get(SystemEndpointRow, host) or SystemEndpointRow(
        host=host, department=department, system=system, side=site,
        address=endpoint.address, port=endpoint.port)
    row.side, row.address, row.port, row.switched_at = site, endpoint.address, \
        endpoint.port, at
    session.add(row)


def endpoints(session: Session, department: str, system: str) -> list[SystemEndpointRow]:
    return list(session.exec(select(SystemEndpointRow)
                             .where(SystemEndpointRow.department == department,
                                    SystemEndpointRow.system == system)
                             .order_by(col(SystemEndpointRow.host))).all())
