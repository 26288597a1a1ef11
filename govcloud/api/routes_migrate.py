"""Migration: legacy hosts (``/hosts``), the dynamic inventory (``/inventory``) and waves
(``/migrate/...``): survey, plan, sign-off, readiness and gates, override, run, cancel,
rollback and the live event stream.

RBAC: reading needs ``department.view`` on the department; surveys, plans, trust, runs and
rollbacks need ``migration.run``; a gate override needs ``migration.override`` *and* the
bureau-admin role (PRODUCT.md: the bureau decides).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.api.contract import IsoTime, Line, Name, Names, Text, cursor, name_query
from govcloud.api.deps import (
    CurrentPrincipal,
    check_visible,
    get_catalogue,
    get_engine,
    may,
    target_of,
    visible_codes,
)
from govcloud.api.fields import Identifier
from govcloud.api.models import (
    AnsibleInventory,
    HostKey,
    HostList,
    Imported,
    Overridden,
    PlanAnswer,
    RunStarted,
    SignedOff,
    SurveyAnswer,
    TrustedKey,
    WaveCancelled,
    WaveDetail,
    WaveEvents,
    WaveList,
    answers,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.rbac import Action, Principal, Role, Target
from govcloud.domain.waves import DEFAULT_GATE, STEPS
from govcloud.errors import ConflictError, Forbidden, GovCloudError, InvalidInput, NotFound
from govcloud.services import migration as service
from govcloud.services import migration_run as run_service
from govcloud.services.migration_targets import CloudTargets
from govcloud.settings import Settings
from govcloud.store import migration as repo

log = logging.getLogger(__name__)
router = APIRouter(tags=["migration"])
Engine_ = Annotated[Engine, Depends(get_engine)]
Catalogue_ = Annotated[Catalogue, Depends(get_catalogue)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _target(catalogue: Catalogue, code: str) -> Target:
    department = catalogue.find(code)
    return target_of(department) if department else Target.of(code, None)


def _level(catalogue: Catalogue, code: str) -> int | None:
    department = catalogue.find(code)
    return department.dr_level if department else None


def _no_department(code: str) -> NotFound:
    return NotFound(f"no department {code!r}",
                    hint="`govcloud departments list` shows the departments you may see")


def _check(principal: Principal, action: Action, catalogue: Catalogue, code: str,
           missing: Callable[[], GovCloudError] | None = None) -> None:
    """May ``principal`` ``action`` department ``code`` (or an object of it)? A department it
    may not even view is answered as absent (``missing``, by default "no department"): 404,
    never 403, so that nothing tells another department's objects from ones that do not
    exist."""
    check_visible(principal, action, _target(catalogue, code),
                  missing or (lambda: _no_department(code)))


# --- hosts -------------------------------------------------------------------------------------

class ImportBody(BaseModel):
    text: str = Field(description="the inventory file's content (YAML; bounded by the "
                                  "request body limit)")
    name: Name = Field("inventory", description="the file's name, for messages")


@router.post("/hosts/import", **answers(Imported),
             summary="import legacy hosts from an inventory file")
def import_hosts(request: Request, engine: Engine_, principal: CurrentPrincipal,
                 catalogue: Catalogue_, body: ImportBody) -> dict[str, Any]:
    hosts = service.parse_inventory_text(body.text, where=body.name)
    for dept in {h.department for h in hosts}:
        if catalogue.find(dept) is None or not may(principal, Action.VIEW_DEPARTMENT,
                                                    _target(catalogue, dept)):
            raise InvalidInput(f"{body.name}: department {dept!r} is not in the catalogue",
                               hint="`govcloud departments list` shows the codes")
        _check(principal, Action.MIGRATION_RUN, catalogue, dept)
    return service.import_hosts(engine, hosts, actor=principal.name,
                                clock=request.app.state.clock)


@router.get("/hosts", **answers(HostList),
            summary="legacy hosts you may see, with survey and wave")
def list_hosts(engine: Engine_, principal: CurrentPrincipal, catalogue: Catalogue_,
               department: Annotated[str | None, name_query()] = None) -> dict[str, Any]:
    if department is not None:
        _check(principal, Action.VIEW_DEPARTMENT, catalogue, department)
    codes = visible_codes(principal, catalogue, Action.VIEW_DEPARTMENT)
    return {"hosts": service.list_hosts(engine, department=department, departments=codes)}


def _host_checked(engine: Engine, principal: Principal, action: Action, catalogue: Catalogue,
                  name: str) -> str:
    """The legacy host's department, once ``principal`` may ``action`` it (another
    department's host is answered as absent)."""
    with Session(engine) as session:
        department = repo.get_host(session, name).department
    _check(principal, action, catalogue, department, lambda: repo.no_host(name))
    return department


@router.get("/hosts/{name}/key", **answers(HostKey),
            summary="the SSH host key the host presents now")
def host_key(request: Request, engine: Engine_, principal: CurrentPrincipal,
             catalogue: Catalogue_, name: Identifier) -> dict[str, Any]:
    _host_checked(engine, principal, Action.MIGRATION_RUN, catalogue, name)
    return service.host_key(engine, _settings(request), name)


class TrustBody(BaseModel):
    fingerprint: Line = Field(description="the SHA256 fingerprint the person confirmed")
    replace: bool = Field(False, description="replace a different recorded key")


@router.post("/hosts/{name}/trust", **answers(TrustedKey),
             summary="record the host's key (it must match)")
def trust_host(request: Request, engine: Engine_, principal: CurrentPrincipal,
               catalogue: Catalogue_, name: Identifier, body: TrustBody) -> dict[str, Any]:
    _host_checked(engine, principal, Action.MIGRATION_RUN, catalogue, name)
    return service.trust_host(engine, _settings(request), name, fingerprint=body.fingerprint,
                              replace=body.replace, actor=principal.name,
                              clock=request.app.state.clock)


@router.get("/inventory", **answers(AnsibleInventory),
            summary="Ansible JSON inventory: legacy hosts, provisioned systems "
                                   "(every site, DR role) and migration targets")
def inventory(request: Request, engine: Engine_, principal: CurrentPrincipal,
              catalogue: Catalogue_) -> dict[str, Any]:
    codes = visible_codes(principal, catalogue, Action.VIEW_DEPARTMENT)
    return service.dynamic_inventory(engine, _settings(request), departments=codes)


# --- survey and plan ---------------------------------------------------------------------------

class DepartmentBody(BaseModel):
    department: Name
    hosts: Names | None = Field(None, description="only these hosts (survey)")


@router.post("/migrate/survey", **answers(SurveyAnswer),
             summary="survey a department's legacy hosts over SSH")
def survey(request: Request, engine: Engine_, principal: CurrentPrincipal,
           catalogue: Catalogue_, body: DepartmentBody) -> dict[str, Any]:
    _check(principal, Action.MIGRATION_RUN, catalogue, body.department)
    return service.survey(engine, _settings(request), department=body.department,
                          actor=principal.name, hosts=body.hosts,
                          clock=request.app.state.clock)


class PlanBody(BaseModel):
    department: Name
    first_window: IsoTime | None = Field(None, description="default: next Saturday 01:00")
    window_hours: float = Field(service.WINDOW_HOURS, gt=0, le=72)
    every_days: int = Field(7, ge=1, le=90)
    max_hosts: int = Field(10, ge=1, le=500)


@router.post("/migrate/plan", **answers(PlanAnswer),
             summary="group a department's hosts into waves")
def plan(request: Request, engine: Engine_, principal: CurrentPrincipal,
         catalogue: Catalogue_, body: PlanBody) -> dict[str, Any]:
    _check(principal, Action.MIGRATION_RUN, catalogue, body.department)
    first = body.first_window or service.default_first_window(request.app.state.clock())
    waves = service.plan(engine, department=body.department,
                         dept_level=_level(catalogue, body.department), actor=principal.name,
                         first_window=first, window_hours=body.window_hours,
                         every_days=body.every_days, max_hosts=body.max_hosts,
                         clock=request.app.state.clock)
    return {"department": body.department, "waves": waves}


class SignoffBody(BaseModel):
    department: Name
    note: Text | None = None


@router.post("/migrate/signoff", **answers(SignedOff),
             summary="record the department's sign-off to migrate")
def signoff(request: Request, engine: Engine_, principal: CurrentPrincipal,
            catalogue: Catalogue_, body: SignoffBody) -> dict[str, Any]:
    if catalogue.find(body.department) is None:  # a sign-off for no department stores nothing
        raise _no_department(body.department)
    _check(principal, Action.MIGRATION_RUN, catalogue, body.department)
    service.set_signoff(engine, department=body.department, actor=principal.name,
                        note=body.note, clock=request.app.state.clock)
    return {"department": body.department, "by": principal.name}


# --- waves -------------------------------------------------------------------------------------

def _wave_department(engine: Engine, wave_id: str) -> str:
    with Session(engine) as session:
        return repo.get_wave(session, wave_id).department


def _wave_checked(engine: Engine, principal: Principal, action: Action, catalogue: Catalogue,
                  wave_id: str) -> str:
    """The wave's department, once ``principal`` may ``action`` it (another department's wave
    is answered as absent)."""
    department = _wave_department(engine, wave_id)
    _check(principal, action, catalogue, department, lambda: repo.no_wave(wave_id))
    return department


def _flavors(request: Request) -> list[Any]:
    """The production site's flavors; none (so no flavor fits) when it cannot be read."""
    try:
        conns = request.app.state.clouds.connections()
        prod = next(iter(conns.values()), None)
        return service.flavors_of(prod) if prod is not None else []
    except Exception as exc:  # noqa: BLE001 - a site down must not hide the wave
        log.warning("cannot list the production site's flavors: %s", exc)
        return []


@router.get("/migrate/waves", **answers(WaveList),
            summary="waves per department, with their status")
def list_waves(engine: Engine_, principal: CurrentPrincipal, catalogue: Catalogue_,
               department: Annotated[str | None, name_query()] = None) -> dict[str, Any]:
    if department is not None:
        _check(principal, Action.VIEW_DEPARTMENT, catalogue, department)
    codes = visible_codes(principal, catalogue, Action.VIEW_DEPARTMENT)
    with Session(engine) as session:
        rows = [w for w in repo.waves(session, department=department)
                if codes is None or w.department in codes]
        out = []
        for w in rows:
            statuses = repo.step_statuses(session, w.id)
            out.append({**_wave_json(w), "hosts": sorted(statuses)})
    return {"waves": out}


def _wave_json(w: Any) -> dict[str, Any]:
    return {"wave": w.id, "department": w.department, "number": w.number,
            "rehearsal": w.rehearsal, "dr_level": w.dr_level, "status": w.status,
            "window": {"start": w.window_start.isoformat(), "end": w.window_end.isoformat()},
            "override": {"by": w.override_by, "reason": w.override_reason}
            if w.override_by else None,
            "rolled_back_at": w.rolled_back_at.isoformat() if w.rolled_back_at else None}


@router.get("/migrate/waves/{wave_id}", **answers(WaveDetail),
            summary="a wave: hosts, steps, readiness and gates")
def get_wave(request: Request, engine: Engine_, principal: CurrentPrincipal,
             catalogue: Catalogue_, wave_id: Identifier,
             gate: Annotated[int, Query(ge=0, le=100)] = DEFAULT_GATE
             ) -> dict[str, Any]:
    dept = _wave_checked(engine, principal, Action.VIEW_DEPARTMENT, catalogue, wave_id)
    flavors = _flavors(request)
    with Session(engine) as session:
        wave = repo.get_wave(session, wave_id)
        scores = service.wave_readiness(session, wave_id, flavors=flavors,
                                        dept_level=_level(catalogue, dept))
        entry, exit_ = service.gates(session, wave_id, scores, gate)
        rows = repo.step_rows(session, wave_id)
        placed = {h.host: h for h in repo.wave_hosts(session, wave_id)}
        hosts = []
        for name in sorted(placed):
            mine = {r.step: r for r in rows if r.host == name}
            steps = {s.value: {"status": r.status, "attempts": r.attempts,
                               "seconds": r.seconds, "error": r.error}
                     for s in STEPS if (r := mine.get(s.value)) is not None}
            target = repo.target_of(placed[name])
            hosts.append({"host": name, "live": placed[name].live,
                          "target": target.to_dict() if target else None,
                          "copies": [c.to_dict() for c in repo.copies_of(placed[name])],
                          "steps": steps, "readiness": scores[name].to_dict()})
        return {**_wave_json(wave), "hosts": hosts, "gate": gate,
                "entry_gate": entry.to_dict(), "exit_gate": exit_.to_dict()}


class OverrideBody(BaseModel):
    reason: Line = Field(min_length=1)


@router.post("/migrate/waves/{wave_id}/override", **answers(Overridden),
             summary="let a wave start below the readiness gate (bureau-admin, audited)")
def override(request: Request, engine: Engine_, principal: CurrentPrincipal,
             catalogue: Catalogue_, wave_id: Identifier, body: OverrideBody) -> dict[str, Any]:
    _wave_checked(engine, principal, Action.MIGRATION_OVERRIDE, catalogue, wave_id)
    if principal.role is not Role.BUREAU_ADMIN:
        raise Forbidden(f"{principal.name} ({principal.role}) may not override a readiness "
                        "gate: only a bureau-admin may", hint="ask the bureau")
    service.override(engine, wave_id=wave_id, actor=principal.name, reason=body.reason,
                     clock=request.app.state.clock)
    return {"wave": wave_id, "override_by": principal.name}


# --- run, cancel, rollback, events ---------------------------------------------------------------

def _runs(request: Request) -> Any:
    state = request.app.state
    runs = getattr(state, "migration_runs", None)
    if runs is None:
        runs = state.migration_runs = run_service.Runs()
    return runs


def _run_context(request: Request) -> run_service.RunContext:
    state = request.app.state
    ctx = getattr(state, "migration_context", None)
    if ctx is None:
        settings = _settings(request)
        ctx = state.migration_context = run_service.RunContext(
            engine=state.engine, settings=settings,
            provisioner=getattr(state, "migration_provisioner", None)
            or CloudTargets(state), clock=state.clock,
            stale_after_s=settings.migrate_stale_after_s,
            heartbeat_s=max(0.2, min(2.0, settings.migrate_stale_after_s / 5)))
    return ctx


def _last_event(engine: Engine, wave_id: str) -> int:
    with Session(engine) as session:
        found = repo.events(session, wave_id, after=0, limit=100000)
        return found[-1].id or 0 if found else 0


class RunBody(BaseModel):
    hook: Name | None = Field(None, description="a cutover hook under playbooks/migrate/hooks")
    outside_window: bool = Field(False, description="run outside the wave's maintenance "
                                                    "window (migration.override; audited)")
    reason: Line | None = Field(None, description="why (with outside_window)")


@router.post("/migrate/waves/{wave_id}/run", **answers(RunStarted),
             summary="run or resume a wave in the background (entry gate and host keys first)")
def run_wave(request: Request, engine: Engine_, principal: CurrentPrincipal,
             catalogue: Catalogue_, wave_id: Identifier, body: RunBody | None = None
             ) -> dict[str, Any]:
    body = body or RunBody()
    dept = _wave_checked(engine, principal, Action.MIGRATION_RUN, catalogue, wave_id)
    ctx = _run_context(request)
    if body.hook:
        run_service.hook_path(ctx, body.hook)
    flavors = _flavors(request)
    with Session(engine) as session:
        scores = service.wave_readiness(session, wave_id, flavors=flavors,
                                        dept_level=_level(catalogue, dept))
        entry, _ = service.gates(session, wave_id, scores)
    if not entry.passed:
        raise ConflictError(f"{wave_id} may not start: " + "; ".join(entry.reasons),
                            hint="fix the readiness reasons (`govcloud migrate show "
                                 f"{wave_id}`), or ask a bureau-admin to override")
    if body.outside_window:
        _check(principal, Action.MIGRATION_OVERRIDE, catalogue, dept)
    with Session(engine) as session:
        window_override = service.check_window(
            session, wave_id, now=request.app.state.clock(),
            outside_window=body.outside_window, reason=body.reason)
    run_service.preflight(ctx, wave_id)
    run_id = uuid.uuid4().hex[:12]
    run_service.claim(ctx, wave_id, run_id)  # refuses now if another run holds the wave
    after = _last_event(engine, wave_id)

    def work(cancel: threading.Event) -> None:
        try:
            run_service.run_wave(ctx, wave_id, actor=principal.name, cancel=cancel,
                                 hook=body.hook, run_id=run_id,
                                 window_override=window_override)
        except GovCloudError as exc:
            log.warning("wave %s: %s", wave_id, exc.message)
        except Exception:
            log.exception("wave %s failed unexpectedly", wave_id)

    _runs(request).start(wave_id, work)
    return {"wave": wave_id, "action": "run", "run_id": run_id, "after": after}


@router.post("/migrate/waves/{wave_id}/cancel", **answers(WaveCancelled),
             summary="cancel a running wave")
def cancel_wave(request: Request, engine: Engine_, principal: CurrentPrincipal,
                catalogue: Catalogue_, wave_id: Identifier) -> dict[str, Any]:
    _wave_checked(engine, principal, Action.MIGRATION_RUN, catalogue, wave_id)
    cancelled = _runs(request).cancel(wave_id)
    if cancelled:
        service.audit_event(engine, actor=principal.name, action="migrate.cancel",
                            department=_wave_department(engine, wave_id),
                            after={"wave": wave_id}, clock=request.app.state.clock)
    return {"wave": wave_id, "cancelled": cancelled}


class RollbackBody(BaseModel):
    target: Name = Field(description="a wave id or a host name")


@router.post("/migrate/rollback", **answers(RunStarted),
             summary="roll a wave or one host back to the legacy side")
def rollback(request: Request, engine: Engine_, principal: CurrentPrincipal,
             catalogue: Catalogue_, body: RollbackBody) -> dict[str, Any]:
    with Session(engine) as session:
        placed = repo.wave_of_host(session, body.target)
        wave = repo.get_wave(session, placed.wave if placed else body.target)
        wave_id, dept = wave.id, wave.department
    _check(principal, Action.MIGRATION_RUN, catalogue, dept, lambda: repo.no_wave(body.target))
    ctx = _run_context(request)
    run_id = uuid.uuid4().hex[:12]
    run_service.claim(ctx, wave_id, run_id)
    after = _last_event(engine, wave_id)

    def work(cancel: threading.Event) -> None:
        try:
            run_service.rollback(ctx, body.target, actor=principal.name, cancel=cancel,
                                 run_id=run_id)
        except GovCloudError as exc:
            log.warning("rollback %s: %s", body.target, exc.message)
        except Exception:
            log.exception("rollback of %s failed unexpectedly", body.target)

    _runs(request).start(wave_id, work)
    return {"wave": wave_id, "action": "rollback", "run_id": run_id, "after": after}


@router.get("/migrate/waves/{wave_id}/events", **answers(WaveEvents),
            summary="a wave's events after an id")
def wave_events(request: Request, engine: Engine_, principal: CurrentPrincipal,
                catalogue: Catalogue_, wave_id: Identifier,
                after: Annotated[int, cursor("events after this id")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
    _wave_checked(engine, principal, Action.VIEW_DEPARTMENT, catalogue, wave_id)
    with Session(engine) as session:
        rows = repo.events(session, wave_id, after=after, limit=limit)
        wave = repo.get_wave(session, wave_id)
        status = wave.status
        beat = wave.heartbeat_at
    stale = _settings(request).migrate_stale_after_s
    alive = beat is not None and wave.run_id is not None and (
        request.app.state.clock() - (beat if beat.tzinfo else beat.replace(tzinfo=UTC))
    ).total_seconds() < stale
    running = _runs(request).running(wave_id) or alive
    return {"wave": wave_id, "status": status, "running": running,
            "events": [{"id": r.id, "at": r.at.isoformat(), "step": r.step, "host": r.host,
                        "event": r.event, "task": r.task, "message": r.message,
                        "ident": r.ident} for r in rows]}
