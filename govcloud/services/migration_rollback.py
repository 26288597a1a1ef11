"""Rolling a wave, or one host of it, back to the legacy side (``rollback``): what was
written on the target after a cutover is synced back, the legacy endpoint is live again, every
step is marked rolled back and the targets govcloud provisioned are released. Like a wave's
run it holds the wave by ``run_id`` and a heartbeat (``services.step_machine``), so a rollback
whose replica died is taken over (``services.run_takeover``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from sqlmodel import Session

from govcloud.domain.waves import STEPS, StepStatus, past_cutover
from govcloud.errors import GovCloudError
from govcloud.services import step_machine
from govcloud.services.migration import known_hosts
from govcloud.services.migration_run import (
    RUN_START,
    Recorder,
    RunContext,
    _audit,
    _job,
    _load,
    _release,
    _switch,
    _Wave,
    _wave_row,
    claim,
    give_up_after,
)
from govcloud.store import migration as repo
from govcloud.store.audit import write_session


def _release_targets(ctx: RunContext, w: _Wave, names: Sequence[str], rec: Recorder,
                     actor: str, ident: str) -> None:
    """After a rollback the hosts' data is back on the legacy side: the servers provisioned
    for them (target and DR copies) are deleted and forgotten, so a new run provisions
    afresh; a declared target is kept. Each outcome is an event, and all are audited."""
    known = known_hosts(ctx.settings)
    outcome: dict[str, list[str]] = {}
    for n in names:
        made = w.made.get(n)
        if made is None:
            continue
        try:
            lines = ctx.provisioner.release(w.hosts[n], w.id, made, actor=actor)
        except GovCloudError as exc:
            why = (f"{exc.message}; the target is kept and still recorded: roll back again "
                   "to retry")
            rec.event("rollback", ident, event="release_failed", host=n,
                      task="release the target", message=why)
            outcome[n] = [f"FAILED: {why}"]
            continue
        for line in lines:
            rec.event("rollback", ident, event="released", host=n, task="release the target",
                      message=line)
        outcome[n] = lines
        if made.request is not None:
            for ep in (made.endpoint, *(c.endpoint for c in made.copies)):
                known.forget(ep)
            with write_session(ctx.engine) as session:
                repo.clear_target(session, w.id, n)
                session.commit()
    if outcome:
        _audit(ctx, actor, "migrate.rollback.release", w.department,
               {"wave": w.id, "hosts": outcome})


def rollback(ctx: RunContext, target: str, *, actor: str, cancel: threading.Event,
             run_id: str | None = None) -> str:
    """Put the legacy host(s) back as the live endpoint; after a cutover, what was written on
    the target is synced back first. ``target`` is a wave id or a host name. The run holds
    the wave by its heartbeat, as a wave's run does (a dead rollback is taken over)."""
    with Session(ctx.engine) as session:
        placed = repo.wave_of_host(session, target)
        wave_id = placed.wave if placed else repo.get_wave(session, target).id
    run_id = run_id or uuid.uuid4().hex[:12]
    claim(ctx, wave_id, run_id)
    with step_machine.heartbeat(ctx.engine, _wave_row(wave_id), run_id,
                                every_s=ctx.heartbeat_s, clock=ctx.clock, lost=cancel,
                                give_up_after_s=give_up_after(ctx)):
        return _rollback_claimed(ctx, wave_id, target if placed else None, actor=actor,
                                 cancel=cancel, run_id=run_id)


def _rollback_claimed(ctx: RunContext, wave_id: str, host: str | None, *, actor: str,
                      cancel: threading.Event, run_id: str) -> str:
    w = _load(ctx, wave_id)
    names = [host] if host else sorted(w.hosts)
    rec = Recorder(ctx, wave_id)
    rec.event("rollback", run_id, event=RUN_START, host=host, message=f"by {actor}")
    _audit(ctx, actor, "migrate.rollback", w.department, {"wave": wave_id, "hosts": names})
    status = "failed"
    try:
        cut = {n: past_cutover(w.statuses[n]) and w.targets.get(n) is not None for n in names}
        started = [n for n in names if any(s is not StepStatus.PENDING
                                           for s in w.statuses[n].values())]
        if started:
            result = _job(ctx, w, "rollback", started, ctx.playbooks / "rollback.yml", cancel,
                          rec, cut_over=cut)
            bad = dict(result.failed)
            if result.detail:
                rec.event("rollback", result.ident, event="job_failed", message=result.detail)
            if result.interrupted or bad or set(started) - result.ok:
                status = "interrupted" if result.interrupted else "failed"
                return status
        _switch(ctx, w, names, "legacy")
        at = ctx.clock()
        with write_session(ctx.engine) as session:
            for n in names:
                for step in STEPS:
                    repo.set_step(session, wave_id, n, step, StepStatus.ROLLED_BACK, at=at)
            session.commit()
        status = "rolled_back"
        _release_targets(ctx, w, names, rec, actor, run_id)
        return status
    finally:
        whole = host is None
        _release(ctx, wave_id, run_id, status if whole or status != "rolled_back"
                 else "partly_rolled_back", rolled_back=status == "rolled_back")
        rec.event("rollback", run_id, event="run_end", message=status)
