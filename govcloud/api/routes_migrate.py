"""Migration: legacy hosts (``/hosts``), the dynamic inventory (``/inventory``) and waves
(``/migrate/...``): survey, plan, sign-off, readiness and gates, override, run, cancel,
rollback and the live event stream.

RBAC is the service's (``govcloud.services.migration_access``), as for requests: reading needs
``department.view`` on the department; surveys, plans, trust, runs and rollbacks need
``migration.run``; a gate override needs ``migration.override`` *and* the bureau-admin role
(PRODUCT.md: the bureau decides); another department's host or wave is reported as not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine

from govcloud.api.contract import Identifier, cursor, name_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, get_engine, get_plane
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
from govcloud.api.models.bodies import (
    DepartmentBody,
    ImportBody,
    OverrideBody,
    PlanBody,
    RollbackBody,
    RunBody,
    SignoffBody,
    TrustBody,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.waves import DEFAULT_GATE, Flavor
from govcloud.services import migration_access as access
from govcloud.services import migration_change
from govcloud.services import migration_run as run_service
from govcloud.services.plane_contexts import changes as change_context
from govcloud.services.plane_contexts import run_context
from govcloud.settings import Settings

router = APIRouter(tags=["migration"])
Engine_ = Annotated[Engine, Depends(get_engine)]


def _settings(request: Request) -> Settings:
    return get_plane(request).settings


def _caller(principal: CurrentPrincipal,
            catalogue: Annotated[Catalogue, Depends(get_catalogue)]) -> access.Caller:
    return access.Caller(principal, catalogue)


Caller = Annotated[access.Caller, Depends(_caller)]


def _flavors(request: Request) -> Callable[[], list[Flavor]]:
    def flavors() -> list[Flavor]:
        return access.production_flavors(get_plane(request).clouds)
    return flavors


# --- hosts -------------------------------------------------------------------------------------

@router.post("/hosts/import", **answers(Imported),
             summary="import legacy hosts from an inventory file")
def import_hosts(request: Request, engine: Engine_, caller: Caller,
                 body: ImportBody) -> dict[str, Any]:
    return access.import_hosts(engine, caller, text=body.text, name=body.name,
                               clock=get_plane(request).clock)


@router.get("/hosts", **answers(HostList),
            summary="legacy hosts you may see, with survey and wave")
def list_hosts(engine: Engine_, caller: Caller,
               department: Annotated[str | None, name_query()] = None) -> dict[str, Any]:
    return access.list_hosts(engine, caller, department=department)


@router.get("/hosts/{name}/key", **answers(HostKey),
            summary="the SSH host key the host presents now")
def host_key(request: Request, engine: Engine_, caller: Caller,
             name: Identifier) -> dict[str, Any]:
    return access.host_key(engine, _settings(request), caller, name)


@router.post("/hosts/{name}/trust", **answers(TrustedKey),
             summary="record the host's key (it must match)")
def trust_host(request: Request, engine: Engine_, caller: Caller, name: Identifier,
               body: TrustBody) -> dict[str, Any]:
    return access.trust_host(engine, _settings(request), caller, name,
                             fingerprint=body.fingerprint, replace=body.replace,
                             clock=get_plane(request).clock)


@router.get("/inventory", **answers(AnsibleInventory),
            summary="Ansible JSON inventory: legacy hosts, provisioned systems "
                                   "(every site, DR role) and migration targets")
def inventory(request: Request, engine: Engine_, caller: Caller) -> dict[str, Any]:
    return access.inventory(engine, _settings(request), caller)


# --- survey and plan ---------------------------------------------------------------------------

@router.post("/migrate/survey", **answers(SurveyAnswer),
             summary="survey a department's legacy hosts over SSH")
def survey(request: Request, engine: Engine_, caller: Caller,
           body: DepartmentBody) -> dict[str, Any]:
    return access.survey(engine, _settings(request), caller, department=body.department,
                         hosts=body.hosts, clock=get_plane(request).clock)


@router.post("/migrate/plan", **answers(PlanAnswer),
             summary="group a department's hosts into waves")
def plan(request: Request, engine: Engine_, caller: Caller, body: PlanBody) -> dict[str, Any]:
    return access.plan(engine, caller, department=body.department,
                       first_window=body.first_window, window_hours=body.window_hours,
                       every_days=body.every_days, max_hosts=body.max_hosts,
                       clock=get_plane(request).clock)


@router.post("/migrate/signoff", **answers(SignedOff),
             summary="record the department's sign-off to migrate")
def signoff(request: Request, engine: Engine_, caller: Caller,
            body: SignoffBody) -> dict[str, Any]:
    return access.signoff(engine, caller, department=body.department, note=body.note,
                          clock=get_plane(request).clock)


# --- waves -------------------------------------------------------------------------------------

@router.get("/migrate/waves", **answers(WaveList),
            summary="waves per department, with their status")
def list_waves(engine: Engine_, caller: Caller,
               department: Annotated[str | None, name_query()] = None) -> dict[str, Any]:
    return access.list_waves(engine, caller, department=department)


@router.get("/migrate/waves/{wave_id}", **answers(WaveDetail),
            summary="a wave: hosts, steps, readiness and gates")
def get_wave(request: Request, engine: Engine_, caller: Caller, wave_id: Identifier,
             gate: Annotated[int, Query(ge=0, le=100)] = DEFAULT_GATE
             ) -> dict[str, Any]:
    return access.show_wave(engine, caller, wave_id, flavors=_flavors(request), gate=gate)


@router.post("/migrate/waves/{wave_id}/override", **answers(Overridden),
             summary="let a wave start below the readiness gate (bureau-admin, audited)")
def override(request: Request, engine: Engine_, caller: Caller, wave_id: Identifier,
             body: OverrideBody) -> dict[str, Any]:
    return access.override(engine, caller, wave_id, reason=body.reason,
                           clock=get_plane(request).clock)


# --- run, cancel, rollback, events ---------------------------------------------------------------

def _runs(request: Request) -> run_service.Runs:
    return get_plane(request).migration_runs


def _run_context(request: Request) -> run_service.RunContext:
    """What a wave's run needs, made from the plane for each request (no state of its own)."""
    return run_context(get_plane(request))


@router.post("/migrate/waves/{wave_id}/run", **answers(RunStarted),
             summary="run or resume a wave in the background (entry gate, change and host keys "
                     "first), or plan it for its change's window")
def run_wave(request: Request, caller: Caller, wave_id: Identifier,
             body: RunBody | None = None) -> dict[str, Any]:
    body = body or RunBody()
    return migration_change.start_run(
        _run_context(request), _runs(request), caller, wave_id,
        changes=change_context(get_plane(request)), change_id=body.change,
        flavors=_flavors(request), hook=body.hook, outside_window=body.outside_window,
        reason=body.reason, trust_on_first_use=body.trust_on_first_use)


@router.post("/migrate/waves/{wave_id}/cancel", **answers(WaveCancelled),
             summary="cancel a running wave: wait for it to stop, end what its step left "
                     "running on the hosts, and list it")
def cancel_wave(request: Request, caller: Caller, wave_id: Identifier) -> dict[str, Any]:
    return access.cancel(_run_context(request), _runs(request), caller, wave_id)


@router.post("/migrate/rollback", **answers(RunStarted),
             summary="roll a wave or one host back to the legacy side")
def rollback(request: Request, caller: Caller, body: RollbackBody) -> dict[str, Any]:
    return migration_change.start_rollback(
        _run_context(request), _runs(request), caller, body.target,
        changes=change_context(get_plane(request)), change_id=body.change)


@router.get("/migrate/waves/{wave_id}/events", **answers(WaveEvents),
            summary="a wave's events after an id")
def wave_events(request: Request, engine: Engine_, caller: Caller, wave_id: Identifier,
                after: Annotated[int, cursor("events after this id")] = 0,
                limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
    return access.events(engine, _runs(request), caller, wave_id, after=after, limit=limit,
                         stale_after_s=_settings(request).migrate_stale_after_s,
                         clock=get_plane(request).clock)
