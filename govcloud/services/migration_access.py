"""Migration as the API asks for it: every use case takes the calling principal (``Caller``),
checks RBAC first, then does the work through ``services.migration`` (before the run) and
``services.migration_run`` (the run itself).

RBAC is decided here, as for provisioning requests and servers, with ``domain.rbac``: reading
needs ``department.view`` on the department; surveys, plans, trust, runs and rollbacks need
``migration.run``; a gate override needs ``migration.override`` *and* the bureau-admin role
(PRODUCT.md: the bureau decides). An object of a department the caller may not even view is
answered as absent (NotFound, 404), never 403, so that nothing tells another department's
hosts and waves from ones that do not exist.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.rbac import Action, Principal, Role, can
from govcloud.domain.waves import DEFAULT_GATE, STEPS, Flavor
from govcloud.errors import ConflictError, Forbidden, GovCloudError, InvalidInput
from govcloud.services import migration as service
from govcloud.services import migration_rollback as rollback_service
from govcloud.services import migration_run as run_service
from govcloud.services.access import (
    Missing,
    check_department,
    department_target,
    no_department,
    visible_codes,
)
from govcloud.services.migration_reap import REAP_EVENT
from govcloud.settings import Settings
from govcloud.store import migration as repo
from govcloud.store.tables import utcnow
from govcloud.store.tables_migration import WaveHostRow

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class HasConnections(Protocol):
    def connections(self) -> Any: ...


@dataclass(frozen=True)
class Caller:
    """Who asks (the principal holding the token) and the department catalogue RBAC reads."""

    principal: Principal
    catalogue: Catalogue

    @property
    def name(self) -> str:
        return self.principal.name

    def level(self, code: str) -> int | None:
        department = self.catalogue.find(code)
        return department.dr_level if department else None

    def check(self, action: Action, code: str, missing: Missing | None = None) -> None:
        """May the caller ``action`` department ``code`` (or an object of it)? One it may
        not even view is answered as absent (``missing``, by default "no department")."""
        check_department(self.principal, self.catalogue, code, action, missing)

    def codes(self, action: Action = Action.VIEW_DEPARTMENT) -> list[str] | None:
        """None when the caller may ``action`` on the whole cloud, else the codes it may."""
        return visible_codes(self.principal, self.catalogue, action)


def production_flavors(clouds: HasConnections) -> list[Flavor]:
    """The production site's flavors; none (so no flavor fits) when it cannot be read."""
    try:
        prod = next(iter(clouds.connections().values()), None)
        return service.flavors_of(prod) if prod is not None else []
    except Exception as exc:  # noqa: BLE001 - a site down must not hide the wave
        log.warning("cannot list the production site's flavors: %s", exc)
        return []


# --- hosts -------------------------------------------------------------------------------------

def import_hosts(engine: Engine, caller: Caller, *, text: str, name: str,
                 clock: Clock = utcnow) -> dict[str, Any]:
    hosts = service.parse_inventory_text(text, where=name)
    for dept in {h.department for h in hosts}:
        if caller.catalogue.find(dept) is None or not can(
                caller.principal, Action.VIEW_DEPARTMENT, department_target(caller.catalogue,
                                                                            dept)):
            raise InvalidInput(f"{name}: department {dept!r} is not in the catalogue",
                               hint="`govcloud departments list` shows the codes")
        caller.check(Action.MIGRATION_RUN, dept)
    return service.import_hosts(engine, hosts, actor=caller.name, clock=clock)


def list_hosts(engine: Engine, caller: Caller, *, department: str | None) -> dict[str, Any]:
    if department is not None:
        caller.check(Action.VIEW_DEPARTMENT, department)
    codes = caller.codes()
    return {"hosts": service.list_hosts(engine, department=department, departments=codes)}


def _host_checked(engine: Engine, caller: Caller, action: Action, name: str) -> str:
    """The legacy host's department, once the caller may ``action`` it."""
    with Session(engine) as session:
        department = repo.get_host(session, name).department
    caller.check(action, department, lambda: repo.no_host(name))
    return department


def host_key(engine: Engine, settings: Settings, caller: Caller, name: str) -> dict[str, Any]:
    _host_checked(engine, caller, Action.MIGRATION_RUN, name)
    return service.host_key(engine, settings, name)


def trust_host(engine: Engine, settings: Settings, caller: Caller, name: str, *,
               fingerprint: str, replace: bool, clock: Clock = utcnow) -> dict[str, Any]:
    _host_checked(engine, caller, Action.MIGRATION_RUN, name)
    return service.trust_host(engine, settings, name, fingerprint=fingerprint,
                              replace=replace, actor=caller.name, clock=clock)


def inventory(engine: Engine, settings: Settings, caller: Caller) -> dict[str, Any]:
    codes = caller.codes()
    return service.dynamic_inventory(engine, settings, departments=codes)


# --- survey, plan, sign-off ----------------------------------------------------------------------

def survey(engine: Engine, settings: Settings, caller: Caller, *, department: str,
           hosts: Sequence[str] | None, clock: Clock = utcnow) -> dict[str, Any]:
    caller.check(Action.MIGRATION_RUN, department)
    return service.survey(engine, settings, department=department, actor=caller.name,
                          hosts=hosts, clock=clock)


def plan(engine: Engine, caller: Caller, *, department: str, first_window: datetime | None,
         window_hours: float, every_days: int, max_hosts: int,
         clock: Clock = utcnow) -> dict[str, Any]:
    caller.check(Action.MIGRATION_RUN, department)
    first = first_window or service.default_first_window(clock())
    waves = service.plan(engine, department=department, dept_level=caller.level(department),
                         actor=caller.name, first_window=first, window_hours=window_hours,
                         every_days=every_days, max_hosts=max_hosts, clock=clock)
    return {"department": department, "waves": waves}


def signoff(engine: Engine, caller: Caller, *, department: str, note: str | None,
            clock: Clock = utcnow) -> dict[str, Any]:
    if caller.catalogue.find(department) is None:  # a sign-off for no department stores nothing
        raise no_department(department)
    caller.check(Action.MIGRATION_RUN, department)
    service.set_signoff(engine, department=department, actor=caller.name, note=note,
                        clock=clock)
    return {"department": department, "by": caller.name}


# --- waves -------------------------------------------------------------------------------------

def _wave_department(engine: Engine, wave_id: str) -> str:
    with Session(engine) as session:
        return repo.get_wave(session, wave_id).department


def _wave_checked(engine: Engine, caller: Caller, action: Action, wave_id: str) -> str:
    """The wave's department, once the caller may ``action`` it."""
    department = _wave_department(engine, wave_id)
    caller.check(action, department, lambda: repo.no_wave(wave_id))
    return department


def _wave_json(w: Any) -> dict[str, Any]:
    return {"wave": w.id, "department": w.department, "number": w.number,
            "rehearsal": w.rehearsal, "dr_level": w.dr_level, "status": w.status,
            "window": {"start": w.window_start.isoformat(), "end": w.window_end.isoformat()},
            "override": {"by": w.override_by, "reason": w.override_reason}
            if w.override_by else None,
            "rolled_back_at": w.rolled_back_at.isoformat() if w.rolled_back_at else None}


def list_waves(engine: Engine, caller: Caller, *, department: str | None) -> dict[str, Any]:
    if department is not None:
        caller.check(Action.VIEW_DEPARTMENT, department)
    codes = caller.codes()
    with Session(engine) as session:
        rows = [w for w in repo.waves(session, department=department)
                if codes is None or w.department in codes]
        out = []
        for w in rows:
            statuses = repo.step_statuses(session, w.id)
            out.append({**_wave_json(w), "hosts": sorted(statuses)})
    return {"waves": out}


def _host_json(session: Session, name: str, placed: WaveHostRow,
               rows: Sequence[Any], score: Any) -> dict[str, Any]:
    mine = {r.step: r for r in rows if r.host == name}
    steps = {s.value: {"status": r.status, "attempts": r.attempts, "seconds": r.seconds,
                       "error": r.error}
             for s in STEPS if (r := mine.get(s.value)) is not None}
    target = repo.target_of(placed)
    return {"host": name, "live": placed.live,
            "target": target.to_dict() if target else None,
            "copies": [c.to_dict() for c in repo.copies_of(placed)],
            "steps": steps, "readiness": score.to_dict()}


def show_wave(engine: Engine, caller: Caller, wave_id: str, *,
              flavors: Callable[[], list[Flavor]], gate: int = DEFAULT_GATE) -> dict[str, Any]:
    """A wave: hosts, steps, readiness and gates."""
    dept = _wave_checked(engine, caller, Action.VIEW_DEPARTMENT, wave_id)
    offered = flavors()
    with Session(engine) as session:
        wave = repo.get_wave(session, wave_id)
        scores = service.wave_readiness(session, wave_id, flavors=offered,
                                        dept_level=caller.level(dept))
        entry, exit_ = service.gates(session, wave_id, scores, gate)
        rows = repo.step_rows(session, wave_id)
        placed = {h.host: h for h in repo.wave_hosts(session, wave_id)}
        hosts = [_host_json(session, name, placed[name], rows, scores[name])
                 for name in sorted(placed)]
        return {**_wave_json(wave), "hosts": hosts, "gate": gate,
                "entry_gate": entry.to_dict(), "exit_gate": exit_.to_dict()}


def override(engine: Engine, caller: Caller, wave_id: str, *, reason: str,
             clock: Clock = utcnow) -> dict[str, Any]:
    _wave_checked(engine, caller, Action.MIGRATION_OVERRIDE, wave_id)
    principal = caller.principal
    if principal.role is not Role.BUREAU_ADMIN:
        raise Forbidden(f"{principal.name} ({principal.role}) may not override a readiness "
                        "gate: only a bureau-admin may", hint="ask the bureau")
    service.override(engine, wave_id=wave_id, actor=caller.name, reason=reason, clock=clock)
    return {"wave": wave_id, "override_by": caller.name}


# --- run, cancel, rollback, events ---------------------------------------------------------------

def _last_event(engine: Engine, wave_id: str) -> int:
    with Session(engine) as session:
        return repo.last_event_id(session, wave_id)


Ended = Callable[[str], None]  # told the status a run ended with (in its thread)


def _in_background(runs: run_service.Runs, wave_id: str, what: str,
                   job: Callable[[threading.Event], str], ended: Ended | None = None) -> None:
    def work(cancel: threading.Event) -> None:
        status = "failed"
        try:
            status = job(cancel)
        except GovCloudError as exc:
            log.warning("%s: %s", what, exc.message)
        except Exception:
            log.exception("%s failed unexpectedly", what)
        if ended is not None:
            try:
                ended(status)
            except Exception:  # what follows a run must not kill the thread silently
                log.exception("%s: recording how it ended failed", what)

    runs.start(wave_id, work)


def wave_department(engine: Engine, caller: Caller, wave_id: str,
                    action: Action = Action.MIGRATION_RUN) -> str:
    """The wave's department, once the caller may ``action`` it (else "no wave")."""
    return _wave_checked(engine, caller, action, wave_id)


def check_start(ctx: run_service.RunContext, caller: Caller, wave_id: str, *,
                flavors: Callable[[], list[Flavor]], hook: str | None = None,
                outside_window: bool = False, reason: str | None = None,
                trust_on_first_use: str | None = None,
                planned_window: bool = True) -> tuple[str, dict[str, Any] | None]:
    """May the wave start (RBAC, its hook, its entry gate and — ``planned_window`` — its
    planned window)? Its department and the window override to audit.
    ``trust_on_first_use`` (a reason; migration.override) lets the run trust the first key
    of a target whose cloud shows none (docs/migration.md, "Target host keys")."""
    engine = ctx.engine
    dept = _wave_checked(engine, caller, Action.MIGRATION_RUN, wave_id)
    if hook:
        run_service.hook_path(ctx, hook)
    offered = flavors()
    with Session(engine) as session:
        scores = service.wave_readiness(session, wave_id, flavors=offered,
                                        dept_level=caller.level(dept))
        entry, _ = service.gates(session, wave_id, scores)
    if not entry.passed:
        raise ConflictError(f"{wave_id} may not start: " + "; ".join(entry.reasons),
                            hint="fix the readiness reasons (`govcloud migrate show "
                                 f"{wave_id}`), or ask a bureau-admin to override")
    if outside_window or trust_on_first_use is not None:
        caller.check(Action.MIGRATION_OVERRIDE, dept)
    if trust_on_first_use is not None and not trust_on_first_use.strip():
        raise InvalidInput("trusting host keys on first use needs a reason",
                           hint="--trust-on-first-use 'why the targets cannot be checked' "
                                "(audited)")
    if not planned_window:
        return dept, None
    with Session(engine) as session:
        window_override = service.check_window(session, wave_id, now=ctx.clock(),
                                               outside_window=outside_window, reason=reason)
    return dept, window_override


def launch(ctx: run_service.RunContext, runs: run_service.Runs, wave_id: str, *, actor: str,
           hook: str | None = None, window_override: dict[str, Any] | None = None,
           window: run_service.Window | None = None,
           ended: Ended | None = None,
           trust_on_first_use: str | None = None) -> dict[str, Any]:
    """Check the host keys, take the wave and run it in the background; the answer names
    the run and the last event before it."""
    run_service.preflight(ctx, wave_id)
    run_id = uuid.uuid4().hex[:12]
    run_service.claim(ctx, wave_id, run_id)  # refuses now if another run holds the wave
    after = _last_event(ctx.engine, wave_id)
    _in_background(runs, wave_id, f"wave {wave_id}", lambda cancel: run_service.run_wave(
        ctx, wave_id, actor=actor, cancel=cancel, hook=hook, run_id=run_id,
        window_override=window_override, window=window,
        trust_on_first_use=trust_on_first_use), ended)
    return {"wave": wave_id, "action": "run", "run_id": run_id, "after": after}


def start_run(ctx: run_service.RunContext, runs: run_service.Runs, caller: Caller,
              wave_id: str, *, flavors: Callable[[], list[Flavor]], hook: str | None = None,
              outside_window: bool = False, reason: str | None = None,
              trust_on_first_use: str | None = None) -> dict[str, Any]:
    """Run or resume a wave in the background, once its entry gate, window and host keys
    allow; the answer names the run and the last event before it. (Under change control:
    ``services.migration_change.start_run``.)"""
    _, window_override = check_start(ctx, caller, wave_id, flavors=flavors, hook=hook,
                                     outside_window=outside_window, reason=reason,
                                     trust_on_first_use=trust_on_first_use)
    return launch(ctx, runs, wave_id, actor=caller.name, hook=hook,
                  window_override=window_override, trust_on_first_use=trust_on_first_use)


def cancel(ctx: run_service.RunContext, runs: run_service.Runs, caller: Caller,
           wave_id: str, *, wait_s: float = 60.0) -> dict[str, Any]:
    """Cancel the wave's run in this process and wait (up to ``wait_s``) for it to stop: its
    step's job ends, then what the job left running on the hosts is ended too
    (``migration_reap``). The answer says whether the run stopped and what was ended."""
    dept = _wave_checked(ctx.engine, caller, Action.MIGRATION_RUN, wave_id)
    after = _last_event(ctx.engine, wave_id)
    cancelled = runs.cancel(wave_id)
    if not cancelled:
        return {"wave": wave_id, "cancelled": False, "stopped": True, "ended": []}
    runs.join(wave_id, wait_s)
    stopped = not runs.running(wave_id)
    with Session(ctx.engine) as session:
        ended = [r.message or "" for r in repo.events(session, wave_id, after=after)
                 if r.event == REAP_EVENT]
    # the lines themselves are the wave's events (command lines are free text)
    service.audit_event(ctx.engine, actor=caller.name, action="migrate.cancel",
                        department=dept, after={"wave": wave_id, "stopped": stopped,
                                                "hosts_checked": len(ended)}, clock=ctx.clock)
    return {"wave": wave_id, "cancelled": True, "stopped": stopped, "ended": ended}


def rollback_department(ctx: run_service.RunContext, caller: Caller,
                        target: str) -> tuple[str, str]:
    """(wave id, department) of a rollback's ``target`` (a wave id or a host name), once the
    caller may run its department's migration."""
    with Session(ctx.engine) as session:
        placed = repo.wave_of_host(session, target)
        wave = repo.get_wave(session, placed.wave if placed else target)
        wave_id, dept = wave.id, wave.department
    caller.check(Action.MIGRATION_RUN, dept, lambda: repo.no_wave(target))
    return wave_id, dept


def start_rollback(ctx: run_service.RunContext, runs: run_service.Runs, caller: Caller,
                   target: str, *, ended: Ended | None = None) -> dict[str, Any]:
    """Roll a wave (by id) or one host (by name) back to the legacy side, in the background."""
    wave_id, _ = rollback_department(ctx, caller, target)
    return launch_rollback(ctx, runs, wave_id, target, actor=caller.name, ended=ended)


def launch_rollback(ctx: run_service.RunContext, runs: run_service.Runs, wave_id: str,
                    target: str, *, actor: str, ended: Ended | None = None) -> dict[str, Any]:
    """Take the wave and roll ``target`` (the wave, or one host of it) back in the
    background; the answer names the run and the last event before it."""
    run_id = uuid.uuid4().hex[:12]
    run_service.claim(ctx, wave_id, run_id)
    after = _last_event(ctx.engine, wave_id)
    _in_background(runs, wave_id, f"rollback {target}", lambda cancel: rollback_service.rollback(
        ctx, target, actor=actor, cancel=cancel, run_id=run_id), ended)
    return {"wave": wave_id, "action": "rollback", "run_id": run_id, "after": after}


def events(engine: Engine, runs: run_service.Runs, caller: Caller, wave_id: str, *,
           after: int, limit: int, stale_after_s: float,
           clock: Clock = utcnow) -> dict[str, Any]:
    """A wave's events after an id, its status, and whether a run is alive (here, or in
    another process whose heartbeat is fresh)."""
    _wave_checked(engine, caller, Action.VIEW_DEPARTMENT, wave_id)
    with Session(engine) as session:
        rows = repo.events(session, wave_id, after=after, limit=limit)
        wave = repo.get_wave(session, wave_id)
        status = wave.status
        beat = wave.heartbeat_at
    alive = beat is not None and wave.run_id is not None and (
        clock() - (beat if beat.tzinfo else beat.replace(tzinfo=UTC))
    ).total_seconds() < stale_after_s
    running = runs.running(wave_id) or alive
    return {"wave": wave_id, "status": status, "running": running,
            "events": [{"id": r.id, "at": r.at.isoformat(), "step": r.step, "host": r.host,
                        "event": r.event, "task": r.task, "message": r.message,
                        "ident": r.ident} for r in rows]}
