"""Taking over the long runs of a replica that died (docs/high-availability.md, "Long runs"):
a migration wave's run or rollback and a DR drill run on a thread of the replica that started
them, holding their subject by a heartbeat (``services.step_machine``). When that replica
dies — kill -9, its host or site lost — the heartbeat stops; once it is older than
``migrate_stale_after_s`` the replica holding the ``migration`` worker (waves) or the
``drills`` worker (drills) resumes the run here: the same kind of run, as the person who
started it, with its hook, under its change. The step machine marks what the dead run left
running as interrupted and the new run resumes at the first step that did not succeed; each
step is idempotent, so nothing is done twice that matters (a server is provisioned once per
idempotency key, rsync copies what changed, a drill finds what it made by name).

Each takeover is audited (``migrate.takeover``, ``dr.drill.takeover``; actor
``control-plane``) with the dead run and the new one. Only on PostgreSQL, where replicas
share the database: a lone SQLite process that restarts leaves the choice — run again, or
roll back, or clean up — to the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.errors import ConflictError, GovCloudError
from govcloud.services import drill, migration_change
from govcloud.services.changes import ChangeContext
from govcloud.services.drill_state import DrillContext
from govcloud.services.migration_run import RunContext, Runs
from govcloud.store import drill_repo
from govcloud.store import migration as wave_repo
from govcloud.store.audit import AuditLog, write_session

log = logging.getLogger(__name__)

AUDIT_ACTOR = "control-plane"  # who takes a run over: no principal, the replicas themselves


def _audit(engine: Engine, clock: Callable[[], datetime], action: str, department: str,
           after: dict[str, Any]) -> None:
    with write_session(engine) as session:
        AuditLog(session=session, clock=clock).append(
            actor=AUDIT_ACTOR, action=action, target=f"department:{department}", after=after)
        session.commit()


def take_over_waves(ctx: RunContext, runs: Runs, changes: ChangeContext, *,
                    replica: str) -> list[str]:
    """Resume every wave run or rollback whose heartbeat is older than ``stale_after_s``
    here, in ``runs``; what was resumed (``wave ID``)."""
    before = ctx.clock() - timedelta(seconds=ctx.stale_after_s)
    with Session(ctx.engine) as session:
        orphans = [(wave_id, dead, wave_repo.get_wave(session, wave_id).department)
                   for wave_id, dead in wave_repo.orphaned_waves(session, before=before)]
    taken = []
    for wave_id, dead, department in orphans:
        if runs.running(wave_id):  # alive here, its beat late: not an orphan
            continue
        try:
            answer = migration_change.take_over(ctx, runs, changes, wave_id)
        except ConflictError:  # another run took it meanwhile
            continue
        except GovCloudError as exc:
            log.warning("wave %s: its dead run %s could not be taken over: %s", wave_id, dead,
                        exc.message)
            continue
        _audit(ctx.engine, ctx.clock, "migrate.takeover", department,
               {"wave": wave_id, "action": answer["action"], "dead_run": dead,
                "run": answer["run_id"], "replica": replica})
        taken.append(f"wave {wave_id}")
    return taken


def take_over_drills(ctx: DrillContext, runs: Runs, *, replica: str) -> list[str]:
    """Resume every running drill whose heartbeat is older than ``stale_after_s`` here, in
    ``runs``; what was resumed (``drill ID``)."""
    before = ctx.clock() - timedelta(seconds=ctx.stale_after_s)
    with Session(ctx.engine) as session:
        orphans = drill_repo.orphaned(session, before=before)
    taken = []
    for drill_id, dead in orphans:
        if runs.running(f"drill-{drill_id}"):
            continue
        try:
            department, run_id = drill.take_over(ctx, runs, drill_id)
        except ConflictError:
            continue
        except GovCloudError as exc:
            log.warning("drill %s: its dead run %s could not be taken over: %s", drill_id,
                        dead, exc.message)
            continue
        _audit(ctx.engine, ctx.clock, "dr.drill.takeover", department,
               {"drill": drill_id, "dead_run": dead, "run": run_id, "replica": replica})
        taken.append(f"drill {drill_id}")
    return taken
