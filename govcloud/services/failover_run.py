"""Running a DR failover on the shared step machine (``domain.steps``, ``services.step_machine``):
freeze → final protection cycle → stop the primary → promote the copy → move the service
endpoint record → verify (an unplanned failover skips the first three).

Each step is recorded before and after it runs, with its output; a run holds the failover by
``run_id`` and a heartbeat, and a run that died is taken over and resumed at the first step
that neither succeeded nor was skipped (``run_failover`` again). A failed step stops the run
(the failover is ``failed``); running it again resumes there. Every step is idempotent: a
server already stopped or promoted is left as it is, the endpoint record is written again."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from govcloud.domain.failover import (
    FAILOVER_STEPS,
    FailoverKind,
    FailoverState,
    FailoverStep,
    skipped,
)
from govcloud.domain.steps import StepStatus, first_unfinished
from govcloud.errors import GovCloudError
from govcloud.services import dr_runs, step_machine
from govcloud.services import failover_steps as steps
from govcloud.services.failover_state import FailoverContext, read, state_of
from govcloud.store import failover_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.inventory import aware

HANDLERS: dict[FailoverStep, Callable[[FailoverContext, steps.Run], str]] = {
    FailoverStep.FREEZE: steps.freeze,
    FailoverStep.STOP_PRIMARY: steps.stop_primary,
    FailoverStep.PROMOTE: steps.promote,
    FailoverStep.MOVE_ENDPOINT: steps.move_endpoint,
    FailoverStep.VERIFY: steps.verify,
}


def _row(failover_id: int) -> step_machine.Load:
    return lambda session: repo.get(session, failover_id)


def claim(ctx: FailoverContext, failover_id: int, run_id: str) -> None:
    """Take the failover for ``run_id`` (refused while another live run holds it)."""
    dr_runs.claim(ctx, repo.get, repo.interrupt_running, failover_id, run_id,
                  what=f"failover {failover_id}",
                  hint="wait for it (`govcloud dr failovers ID`)")


def _record_step(ctx: FailoverContext, failover_id: int, step: FailoverStep,
                 status: StepStatus, output: str | None = None) -> None:
    step_machine.record_step(ctx.engine, repo.set_step, "failover", failover_id, step.value,
                             status, at=ctx.clock(), output=output)


def audit(ctx: FailoverContext, actor: str, action: str, department: str,
          after: dict[str, Any], *, target: str | None = None) -> None:
    """An audit entry on the department (or on ``target``, e.g. ``site:PROD``)."""
    with write_session(ctx.engine) as session:
        AuditLog(session=session, clock=ctx.clock).append(
            actor=actor, action=action, target=target or f"department:{department}",
            after=after)
        session.commit()


def _one(ctx: FailoverContext, run: steps.Run, step: FailoverStep) -> str | None:
    """Run one step, recording it; the failure's text when it failed."""
    why = skipped(run.kind).get(step)
    if why is not None:
        _record_step(ctx, run.id, step, StepStatus.SKIPPED, f"skipped: {why}")
        return None
    _record_step(ctx, run.id, step, StepStatus.RUNNING)
    try:
        if step is FailoverStep.FINAL_CYCLE:
            output, was_skipped = steps.final_cycle(ctx, run)
            _record_step(ctx, run.id, step,
                         StepStatus.SKIPPED if was_skipped else StepStatus.SUCCEEDED,
                         f"skipped: {output}" if was_skipped else output)
            return None
        output = HANDLERS[step](ctx, run)
    except GovCloudError as exc:
        _record_step(ctx, run.id, step, StepStatus.FAILED,
                     dr_runs.failed_output(run, step, exc))
        return f"{step.value}: {exc.message}"
    _record_step(ctx, run.id, step, StepStatus.SUCCEEDED, output)
    return None


def _run_steps(ctx: FailoverContext, run: steps.Run, cancel: threading.Event) -> str:
    """The failover's state when its steps end: done, failed or interrupted."""
    _, statuses = read(ctx, run.id)
    by_step = {s: statuses.get(s.value, StepStatus.PENDING) for s in FAILOVER_STEPS}
    start = first_unfinished(FAILOVER_STEPS, by_step)
    if start is None:
        return FailoverState.DONE.value
    for step in FAILOVER_STEPS[FAILOVER_STEPS.index(start):]:
        if cancel.is_set():
            return FailoverState.INTERRUPTED.value
        if _one(ctx, run, step) is not None:
            return FailoverState.FAILED.value
    return FailoverState.DONE.value


def _start(ctx: FailoverContext, failover_id: int) -> steps.Run:
    with write_session(ctx.engine) as session:
        row = repo.get(session, failover_id)
        row.state = FailoverState.RUNNING.value
        row.started_at = row.started_at or ctx.clock()
        session.add(row)
        session.commit()
        return steps.Run(failover_id, row.department, row.system, FailoverKind(row.kind),
                         row.source, row.target, aware(row.started_at) or ctx.clock())


def _finish(ctx: FailoverContext, failover_id: int, run_id: str, state: str) -> None:
    with write_session(ctx.engine) as session:
        row = repo.get(session, failover_id)
        step_machine.release(session, row, run_id)
        row.state = state
        if state == FailoverState.DONE.value:
            row.finished_at = row.finished_at or ctx.clock()
        session.add(row)
        session.commit()


def run_failover(ctx: FailoverContext, failover_id: int, *, actor: str,
                 cancel: threading.Event, run_id: str | None = None) -> str:
    """Run (or resume) a failover; returns its state when the run ends: done, failed (run
    again to resume at the failed step) or interrupted (cancelled)."""
    run_id = run_id or uuid.uuid4().hex[:12]
    claim(ctx, failover_id, run_id)
    state = FailoverState.INTERRUPTED.value
    with step_machine.heartbeat(ctx.engine, _row(failover_id), run_id,
                                every_s=ctx.heartbeat_s, clock=ctx.clock):
        try:
            run = _start(ctx, failover_id)
            audit(ctx, actor, "dr.failover.run", run.department,
                  {"failover": failover_id, "run": run_id, "system": run.system,
                   "kind": run.kind.value, "from": run.source, "to": run.target})
            state = _run_steps(ctx, run, cancel)
        finally:
            _finish(ctx, failover_id, run_id, state)
    row, _ = read(ctx, failover_id)
    if state == FailoverState.DONE.value:
        got = state_of(row)
        audit(ctx, actor, "dr.failover.done", row.department,
              {"failover": failover_id, "system": row.system, "kind": row.kind,
               "to": row.target, "rto_s": got.get("rto_s"),
               "data_loss_s": got.get("data_loss_s")})
    return row.state
