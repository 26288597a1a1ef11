"""Running a DR drill on the shared step machine (``domain.steps``, ``services.step_machine``):
snapshot production → isolated network → bring the copies up → health check → teardown →
leftover check → production compared → record (the posture's summary, the sealed evidence).

Each step is recorded before and after it runs, with its output; a run holds the drill by
``run_id`` and a heartbeat, and a run that died is taken over and resumed at the first step
that did not succeed (``run_drill`` again). When a step of the first four fails, the others
are skipped and the last four still run: whatever the drill made is deleted and checked for.
``cleanup`` runs the teardown and the leftover check again (and records an unfinished drill
as failed): idempotent, it finds what a drill made by name in every region.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from govcloud.domain.audit import canonical_json
from govcloud.domain.drills import (
    CLEANUP_STEPS,
    DRILL_STEPS,
    DrillState,
    DrillStep,
)
from govcloud.domain.notifications import EventKind
from govcloud.domain.recovery import DrillRecord, DrillResult
from govcloud.domain.steps import StepStatus, first_unfinished
from govcloud.errors import GovCloudError
from govcloud.services import dr_runs, step_machine
from govcloud.services import drill_steps as steps
from govcloud.services.drill_state import DrillContext, evidence_of, read, state_of
from govcloud.services.notifications import tell
from govcloud.store import drill_repo as repo
from govcloud.store import protection_repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.inventory import aware

log = logging.getLogger(__name__)

MAIN = (DrillStep.SNAPSHOT_PROD, DrillStep.ISOLATED_NETWORK, DrillStep.BRING_UP,
        DrillStep.HEALTH_CHECK)
HANDLERS: dict[DrillStep, Callable[[DrillContext, steps.Run], str]] = {
    DrillStep.SNAPSHOT_PROD: steps.snapshot_prod,
    DrillStep.ISOLATED_NETWORK: steps.isolated_network,
    DrillStep.BRING_UP: steps.bring_up,
    DrillStep.HEALTH_CHECK: steps.health_check,
    DrillStep.TEARDOWN: steps.teardown,
    DrillStep.VERIFY_LEFTOVERS: steps.verify_leftovers,
    DrillStep.COMPARE_PROD: steps.compare_prod,
}


def _row(drill_id: int) -> step_machine.Load:
    return lambda session: repo.get(session, drill_id)


def claim(ctx: DrillContext, drill_id: int, run_id: str) -> None:
    """Take the drill for ``run_id`` (refused while another live run holds it)."""
    dr_runs.claim(ctx, repo.get, repo.interrupt_running, drill_id, run_id,
                  what=f"drill {drill_id}",
                  hint="wait for it to finish (`govcloud dr drill show ID`)")


def _record_step(ctx: DrillContext, drill_id: int, step: DrillStep, status: StepStatus,
                 output: str | None = None) -> None:
    step_machine.record_step(ctx.engine, repo.set_step, "drill", drill_id, step.value, status,
                             at=ctx.clock(), output=output)


def _audit(ctx: DrillContext, actor: str, action: str, department: str,
           after: dict[str, Any]) -> None:
    with write_session(ctx.engine) as session:
        AuditLog(session=session, clock=ctx.clock).append(
            actor=actor, action=action, target=f"department:{department}", after=after)
        session.commit()


Window = Callable[[], str | None]  # why the drill may not go on now (None: it may)


@dataclass
class _Outcome:
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    waiting: str | None = None  # why its change's window stopped it
    stopped_before: DrillStep | None = None


def _stops(out: _Outcome, step: DrillStep, window: Window | None) -> bool:
    """Does the drill stop before main step ``step``: cancelled, a main step failed, or its
    change no longer lets it run (its window closed)?"""
    if out.failed or out.interrupted or out.waiting is not None:
        return True
    why = window() if window is not None else None
    if why is not None:
        out.waiting, out.stopped_before = why, step
    return why is not None


def _run_steps(ctx: DrillContext, run: steps.Run, order: tuple[DrillStep, ...],
               cancel: threading.Event, window: Window | None = None) -> _Outcome:
    """Run ``order`` from its first unfinished step; after a failed main step the other main
    steps are skipped and the teardown, checks and record still run. ``window`` is asked
    before each main step: when its change's window has closed, the rest of the main steps
    are skipped, the teardown and checks run, and the drill waits (``_wait``) to run anew in
    a window — its RTO is measured in one go."""
    out = _Outcome()
    _, statuses = read(ctx, run.id)
    by_step = {s: statuses.get(s.value, StepStatus.PENDING) for s in order}
    start = first_unfinished(order, by_step)
    for step in order[order.index(start):] if start is not None else ():
        if by_step[step] is StepStatus.SUCCEEDED:
            continue
        if step in MAIN:
            out.interrupted = out.interrupted or cancel.is_set()
            if _stops(out, step, window):
                continue
        if step is DrillStep.RECORD:
            if out.waiting is not None and not out.failed:
                _wait(ctx, run, out)
            else:
                _record(ctx, run, failed=bool(out.failed) or out.interrupted
                        or out.waiting is not None)
            continue
        _record_step(ctx, run.id, step, StepStatus.RUNNING)
        try:
            output = HANDLERS[step](ctx, run)
        except GovCloudError as exc:
            _failed(ctx, run, step, out, dr_runs.failed_output(run, step, exc), exc.message)
            continue
        except Exception as exc:  # a bug in a step must not skip the teardown
            log.exception("drill %s: %s failed unexpectedly", run.id, step.value)
            why = f"unexpected error: {type(exc).__name__}: {exc}"[:1000]
            _failed(ctx, run, step, out, (run.output(step) + "\n" + why).strip(), why)
            continue
        _record_step(ctx, run.id, step, StepStatus.SUCCEEDED, output)
    return out


def _failed(ctx: DrillContext, run: steps.Run, step: DrillStep, out: _Outcome, output: str,
            why: str) -> None:
    _record_step(ctx, run.id, step, StepStatus.FAILED, output)
    out.failed.append(f"{step.value}: {why}")


def _record(ctx: DrillContext, run: steps.Run, *, failed: bool) -> None:
    """The posture's summary of each system, the evidence stored and sealed in the audit
    chain, the drill finished — one transaction, so a crash records it once or not at all."""
    now = ctx.clock()
    step_machine.fault_point("drill", DrillStep.RECORD.value, StepStatus.RUNNING.value,
                             run.id)
    with write_session(ctx.engine) as session:
        row = repo.get(session, run.id)
        statuses = {r.step: r.status for r in repo.steps(session, run.id)}
        ok = not failed and all(statuses.get(s.value) == StepStatus.SUCCEEDED.value
                                for s in DRILL_STEPS if s is not DrillStep.RECORD)
        result = DrillResult.PASSED if ok else DrillResult.FAILED
        repo.set_step(session, run.id, DrillStep.RECORD.value, StepStatus.RUNNING, at=now)
        repo.set_step(session, run.id, DrillStep.RECORD.value, StepStatus.SUCCEEDED, at=now,
                      output=f"drill {result.value}; summary recorded for the posture; "
                             "evidence sealed in the audit chain")
        session.flush()
        evidence = evidence_of(session, row, result=result.value, now=now)
        started = aware(row.started_at) or now
        for system in evidence.systems:
            passed = ok and system.healthy and system.achieved_rto_s is not None
            protection_repo.add_drill(session.connection(), DrillRecord(
                row.department, system.system, row.site, started,
                DrillResult.PASSED if passed else DrillResult.FAILED,
                _seconds(system.achieved_rto_s) if passed else None))
        digest = evidence.digest()
        row.evidence = canonical_json(evidence.as_json())
        row.evidence_digest = digest
        row.state, row.finished_at = result.value, now
        if run.run_id is not None:  # a crash after this commit leaves no claim behind
            step_machine.release(session, row, run.run_id)
        session.add(row)
        AuditLog(session=session, clock=ctx.clock).append(
            actor=row.runner or "drill", action="dr.drill.evidence",
            target=f"department:{row.department}",
            after={"drill": run.id, "result": result.value, "evidence_sha256": digest})
        failed_steps = [s.step for s in evidence.steps if s.status == StepStatus.FAILED.value]
        tell(ctx.notify, session.connection(),
             EventKind.DRILL_DONE if ok else EventKind.DRILL_FAILED, row.department, run.id,
             now, actor=row.runner, system=row.system, site=row.site,
             detail=None if ok else "failed steps: " + (", ".join(failed_steps) or "none "
                                                          "(the run was interrupted)"))
        session.commit()
    step_machine.fault_point("drill", DrillStep.RECORD.value, StepStatus.SUCCEEDED.value,
                             run.id)


def _wait(ctx: DrillContext, run: steps.Run, out: _Outcome) -> None:
    """The window closed and the teardown cleaned up: the drill waits for a window, to run
    again from its first step (what this attempt did stays in the audit log and in its
    state's ``attempts``)."""
    now = ctx.clock()
    with write_session(ctx.engine) as session:
        row = repo.get(session, run.id)
        done = [r.step for r in repo.steps(session, run.id)
                if r.status == StepStatus.SUCCEEDED.value]
        attempt = {"at": now.isoformat(), "started_at": _iso(aware(row.started_at)),
                   "stopped_before": out.stopped_before.value if out.stopped_before else None,
                   "steps": done, "reason": out.waiting}
        attempts = [*state_of(row).get("attempts", []), attempt]
        row.state_json = json.dumps({"attempts": attempts[-20:]}, ensure_ascii=False,
                                    sort_keys=True)
        row.state, row.started_at = DrillState.WAITING.value, None
        session.add(row)
        repo.reset_steps(session, run.id, [s.value for s in DRILL_STEPS])
        AuditLog(session=session, clock=ctx.clock).append(
            actor=row.runner or "drill", action="dr.drill.wait",
            target=f"department:{row.department}", after={"drill": run.id, **attempt})
        session.commit()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


def _start(ctx: DrillContext, drill_id: int, actor: str) -> None:
    with write_session(ctx.engine) as session:
        row = repo.get(session, drill_id)
        row.state, row.runner = DrillState.RUNNING.value, actor
        row.started_at = row.started_at or ctx.clock()
        session.add(row)
        session.commit()


def _release(ctx: DrillContext, drill_id: int, run_id: str) -> None:
    """Let go of the drill; one still ``running`` (cancelled, or ended by an unexpected
    error) becomes interrupted: ``run`` resumes it, ``cleanup`` removes what it made."""
    with write_session(ctx.engine) as session:
        row = repo.get(session, drill_id)
        if row.run_id not in (run_id, None):  # taken over meanwhile: that run's state stands
            log.warning("drill %s: run %s ended after run %s took it over", drill_id, run_id,
                        row.run_id)
            return
        step_machine.release(session, row, run_id)
        if row.state == DrillState.RUNNING.value:
            row.state = DrillState.INTERRUPTED.value
        session.add(row)
        session.commit()


def run_drill(ctx: DrillContext, drill_id: int, *, actor: str, cancel: threading.Event,
              run_id: str | None = None, window: Window | None = None) -> str:
    """Run (or resume) an approved drill; returns its state when the run ends: passed or
    failed (a cancelled run skips what is left of the first four steps, tears down and is
    recorded as failed), interrupted when an unexpected error ended it (run again to
    resume, or clean up), or waiting-window when ``window`` stopped it (torn down; it runs
    anew in a window)."""
    run_id = run_id or uuid.uuid4().hex[:12]
    claim(ctx, drill_id, run_id)
    row, _ = read(ctx, drill_id)
    _audit(ctx, actor, "dr.drill.run", row.department, {"drill": drill_id, "run": run_id})
    with step_machine.heartbeat(ctx.engine, _row(drill_id), run_id, every_s=ctx.heartbeat_s,
                                clock=ctx.clock):
        try:
            _start(ctx, drill_id, actor)
            _run_steps(ctx, steps.Run(drill_id, row.department, row.system, row.site,
                                      run_id=run_id), DRILL_STEPS, cancel, window)
        finally:
            _release(ctx, drill_id, run_id)
    final, _ = read(ctx, drill_id)
    return final.state


def cleanup(ctx: DrillContext, drill_id: int, *, actor: str,
            run_id: str | None = None) -> dict[str, Any]:
    """Delete whatever the drill made, in every region, and check nothing is left; a drill
    that started and never finished is then recorded as failed. Idempotent."""
    run_id = run_id or uuid.uuid4().hex[:12]
    claim(ctx, drill_id, run_id)
    row, _ = read(ctx, drill_id)
    run = steps.Run(drill_id, row.department, row.system, row.site, run_id=run_id)
    try:
        with write_session(ctx.engine) as session:
            repo.reset_steps(session, drill_id, [s.value for s in CLEANUP_STEPS])
            session.commit()
        order: tuple[DrillStep, ...] = CLEANUP_STEPS
        unfinished = row.started_at is not None and row.state not in (
            DrillState.PASSED.value, DrillState.FAILED.value)
        if unfinished:
            order = (*CLEANUP_STEPS, DrillStep.COMPARE_PROD, DrillStep.RECORD)
        outcome = _run_steps(ctx, run, order, threading.Event())
        with write_session(ctx.engine) as session:
            stored = repo.get(session, drill_id)
            stored.cleaned_at = ctx.clock()
            session.add(stored)
            session.commit()
    finally:
        _release(ctx, drill_id, run_id)
    final, _ = read(ctx, drill_id)
    leftovers = state_of(final).get("leftovers") or []
    _audit(ctx, actor, "dr.drill.cleanup", row.department,
           {"drill": drill_id, "leftovers": len(leftovers), "state": final.state})
    return {"drill": drill_id, "state": final.state, "leftovers": leftovers,
            "deleted": state_of(final).get("deleted") or [], "failed": outcome.failed}
