"""Migration waves under change control (docs/changes.md, "Which operations need a change"):
a wave run and a rollback pass the change gate (kind ``migration-wave``, the wave's
department, every site) before anything runs; the wave is the change's link (``wave ID``,
``rollback ID``) and its end finishes it. A change's waves keep it in progress until the
department's last wave is done.

Under a change, the change's window governs when the wave runs (the wave's planned window
is not checked again). Before each step where a wave may stop (``domain.waves.
may_stop_before``: before the freeze, never with a host frozen) the run asks whether its
change still lets it go on; when the window has closed it stops there, ``waiting-window``.
The wave is taken up again when a window opens for it: its change's again (a freeze ended),
or a new change's — ``govcloud migrate run WAVE --change N`` plans it for change N's window
when that window has not opened yet, and the change-window worker starts it then
(``workers.change_windows``, :func:`resume`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from govcloud.domain.changes import OperationKind
from govcloud.domain.waves import Flavor
from govcloud.errors import ConflictError, GovCloudError
from govcloud.services import migration_access as access
from govcloud.services import migration_run as run_service
from govcloud.services.change_gate import (
    Ticket,
    WindowCheck,
    finish,
    gate,
    hold,
    opens_later,
    reserve,
    ticket_of,
    wake,
)
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import Caller
from govcloud.store import changes_repo
from govcloud.store import migration as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.inventory import aware
from govcloud.store.tables_migration import WaveRow

log = logging.getLogger(__name__)
KIND = OperationKind.MIGRATION_WAVE


def _ref(wave_id: str) -> str:
    return f"wave {wave_id}"


def _more_waves(ctx: run_service.RunContext, wave_id: str) -> bool:
    """Has the wave's department waves after it that are not done (the change stays in
    progress for them)?"""
    with Session(ctx.engine) as session:
        wave = repo.get_wave(session, wave_id)
        return any(w.number > wave.number and w.status != "done"
                   for w in repo.waves(session, department=wave.department))


def _ended(ctx: run_service.RunContext, changes: ChangeContext, ticket: Ticket | None,
           wave_id: str, actor: str, window: WindowCheck | None,
           what: str = "wave") -> Callable[[str], None]:
    """What follows a run: its link waits (it stopped for the window) or ends."""
    def ended(status: str) -> None:
        if ticket is None:
            return
        if status == run_service.WAITING and window is not None:
            hold(changes, ticket, actor=actor, reason=window.reason)
            return
        ok = status in ("done", "rolled_back", "partly_rolled_back")
        close = not ok or what != "wave" or not _more_waves(ctx, wave_id)
        finish(changes, ticket, actor=actor, ok=ok, detail=f"{what} {wave_id} {status}",
               close=close)
    return ended


def _wait(ctx: run_service.RunContext, changes: ChangeContext, caller: Caller, wave_id: str,
          department: str, change_id: int, hook: str | None) -> dict[str, Any]:
    """Plan the wave for change ``change_id``'s window, not open yet (not while it runs)."""
    with Session(ctx.engine) as session:
        held = repo.get_wave(session, wave_id)
        beat = aware(held.heartbeat_at)
    if held.run_id is not None and beat is not None and \
            (ctx.clock() - beat).total_seconds() < ctx.stale_after_s:
        raise ConflictError(f"{wave_id} is running (run {held.run_id})",
                            hint="plan it for another change's window once it has stopped "
                                 f"(`govcloud migrate events {wave_id} --follow`)")
    ticket, change = reserve(changes, caller, change_id, KIND, [department],
                             operation=_ref(wave_id))
    opens = change.start.isoformat()
    with write_session(ctx.engine) as session:
        wave = repo.get_wave(session, wave_id)
        if wave.run_id is None:
            wave.status = run_service.WAITING
            session.add(wave)
        after = repo.last_event_id(session, wave_id)
        repo.add_events(session, [{
            "wave": wave_id, "step": "run", "ident": "window", "at": ctx.clock(),
            "event": "waiting_window", "host": None,
            "task": f"hook={hook}" if hook else None,
            "message": f"planned for change {change_id}'s window, from {opens}"}])
        AuditLog(session=session, clock=ctx.clock).append(
            actor=caller.name, action="migrate.wait", target=f"department:{department}",
            after={"wave": wave_id, "change": change_id, "opens": opens,
                   "link": ticket.link_id})
        session.commit()
    return {"wave": wave_id, "action": "wait", "run_id": None, "after": after,
            "change": change_id, "opens": opens}


def start_run(ctx: run_service.RunContext, runs: run_service.Runs, caller: Caller,
              wave_id: str, *, changes: ChangeContext, change_id: int | None,
              flavors: Callable[[], list[Flavor]], hook: str | None = None,
              outside_window: bool = False, reason: str | None = None,
              trust_on_first_use: str | None = None) -> dict[str, Any]:
    """Run or resume a wave in the background under change ``change_id`` (or the change it
    ran under), or plan it for that change's window when it has not opened yet.
    ``trust_on_first_use``: as ``migration_access.check_start`` (not kept for a wave that
    waits for its window: resumed, it pins its targets' keys)."""
    department = access.wave_department(ctx.engine, caller, wave_id)
    before = ticket_of(changes, KIND, _ref(wave_id))
    under = change_id is not None or before is not None or changes.enforce
    _, window_override = access.check_start(ctx, caller, wave_id, flavors=flavors, hook=hook,
                                            outside_window=outside_window, reason=reason,
                                            trust_on_first_use=trust_on_first_use,
                                            planned_window=not under)
    if change_id is not None and opens_later(changes, change_id) is not None:
        return _wait(ctx, changes, caller, wave_id, department, change_id, hook)
    ticket = gate(changes, caller, change_id, KIND, [department], operation=_ref(wave_id))
    window = WindowCheck(changes, ticket, [department]) if ticket is not None else None
    try:
        answer = access.launch(ctx, runs, wave_id, actor=caller.name, hook=hook,
                               window_override=window_override, window=window,
                               ended=_ended(ctx, changes, ticket, wave_id, caller.name,
                                            window), trust_on_first_use=trust_on_first_use)
    except GovCloudError as exc:
        if ticket is not None and ticket != before:  # a link of its own: it never ran
            finish(changes, ticket, actor=caller.name, ok=False,
                   detail=f"refused: {exc.message}")
        raise
    return {**answer, "change": ticket.change_id if ticket is not None else None}


def start_rollback(ctx: run_service.RunContext, runs: run_service.Runs, caller: Caller,
                   target: str, *, changes: ChangeContext,
                   change_id: int | None) -> dict[str, Any]:
    """Roll a wave or a host back, under change ``change_id`` (kind migration-wave)."""
    wave_id, department = access.rollback_department(ctx, caller, target)
    ticket = gate(changes, caller, change_id, KIND, [department],
                  operation=f"rollback {target}")
    try:
        answer = access.start_rollback(ctx, runs, caller, target, ended=_ended(
            ctx, changes, ticket, target, caller.name, None, what="rollback"))
    except GovCloudError as exc:
        finish(changes, ticket, actor=caller.name, ok=False, detail=f"refused: {exc.message}")
        raise
    return {**answer, "change": ticket.change_id if ticket is not None else None}


def _hook(ctx: run_service.RunContext, wave_id: str) -> str | None:
    """The cutover hook the wave ran with when it stopped for its window."""
    with Session(ctx.engine) as session:
        found = repo.last_event(session, wave_id, "waiting_window")
    task = found.task if found is not None else None
    return task.removeprefix("hook=") if task and task.startswith("hook=") else None


def resume(ctx: run_service.RunContext, runs: run_service.Runs, changes: ChangeContext,
           link: changes_repo.OpenLink) -> bool:
    """Take a wave waiting for its window up again, now that its change lets it run (the
    change-window worker); False when it did not start (it keeps waiting)."""
    wave_id = link.ref.removeprefix("wave ")
    with Session(ctx.engine) as session:
        found = session.get(WaveRow, wave_id)
        department = found.department if found is not None else None
    if department is None:
        return False
    ticket = wake(changes, link, [department])
    if ticket is None:
        return False
    window = WindowCheck(changes, ticket, [department])
    try:
        access.launch(ctx, runs, wave_id, actor=link.actor, hook=_hook(ctx, wave_id),
                      window=window, ended=_ended(ctx, changes, ticket, wave_id, link.actor,
                                                  window))
    except GovCloudError as exc:
        log.warning("wave %s did not resume in its window: %s", wave_id, exc.message)
        hold(changes, ticket, actor=link.actor, reason=f"could not resume: {exc.message}")
        return False
    return True


def take_over(ctx: run_service.RunContext, runs: run_service.Runs, changes: ChangeContext,
              wave_id: str) -> dict[str, Any]:
    """Resume the run or rollback of ``wave_id`` that died with its replica
    (``services.run_takeover``): the same kind of run, as the person who started it, with
    its hook, under the change it ran under (if any). Refused (``ConflictError``) while a
    live run holds the wave."""
    with Session(ctx.engine) as session:
        started = run_service.run_start(session, wave_id)
        wave = repo.get_wave(session, wave_id)
        department = wave.department
    kind, actor, detail = started or ("run", "migration", None)
    if kind == "rollback":
        target = detail or wave_id
        ticket = ticket_of(changes, KIND, f"rollback {target}")
        return access.launch_rollback(ctx, runs, wave_id, target, actor=actor, ended=_ended(
            ctx, changes, ticket, target, actor, None, what="rollback"))
    ticket = ticket_of(changes, KIND, _ref(wave_id))
    window = WindowCheck(changes, ticket, [department]) if ticket is not None else None
    return access.launch(ctx, runs, wave_id, actor=actor, hook=detail, window=window,
                         ended=_ended(ctx, changes, ticket, wave_id, actor, window))
