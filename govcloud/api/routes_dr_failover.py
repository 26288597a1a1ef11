"""DR failover, reprotect, failback and the site plan (``/dr/failovers``, ``/dr/reprotect``,
``/dr/failback``, ``/dr/failover-plan``; docs/dr.md, "Failover and failback"). RBAC is the
service's (``govcloud.services.failover``); the site plan needs ``capacity.view``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from govcloud.api.contract import Id, name_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, get_plane, require
from govcloud.api.fields import Name
from govcloud.api.models import answers
from govcloud.api.models.dr_failover import (
    Failover,
    FailoverBody,
    FailoverList,
    FailoverStarted,
    SitePlan,
    SiteRunBody,
    SiteRunStarted,
    SystemBody,
    SystemRole,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.rbac import Action, Principal
from govcloud.services import failover as service
from govcloud.services import failover_site, inventory
from govcloud.services.failover_state import FailoverContext
from govcloud.services.migration_access import Caller as CallerType
from govcloud.services.plane_contexts import failover_context
from govcloud.services.step_machine import Runs

router = APIRouter(tags=["dr"])
FailoverId = Annotated[int, Id]


def _caller(principal: CurrentPrincipal,
            catalogue: Annotated[Catalogue, Depends(get_catalogue)]) -> CallerType:
    return CallerType(principal, catalogue)


Caller = Annotated[CallerType, Depends(_caller)]


def _ctx(request: Request) -> FailoverContext:
    return failover_context(get_plane(request))


def _runs(request: Request) -> Runs:
    runs: Runs = get_plane(request).failover_runs
    return runs


@router.post("/dr/failovers", **answers(FailoverStarted), status_code=202,
             summary="fail a system over to a DR site (planned, or unplanned), in the "
                     "background; resumes its unfinished failover")
def failover(request: Request, caller: Caller, body: FailoverBody) -> dict[str, Any]:
    return service.failover(_ctx(request), _runs(request), caller,
                            department=body.department, system=body.system, target=body.to,
                            unplanned=body.unplanned, confirm=body.confirm,
                            change_id=body.change)


@router.get("/dr/failovers", **answers(FailoverList),
            summary="the failovers and failbacks the caller may see, newest first")
def listing(request: Request, caller: Caller,
            department: Annotated[str | None, name_query("only this department")] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    return service.listing(_ctx(request), caller, department=department, limit=limit)


@router.get("/dr/failovers/{failover_id}", **answers(Failover),
            summary="a failover with its steps, RTO, data-loss window and the system's roles")
def show(request: Request, caller: Caller, failover_id: FailoverId) -> dict[str, Any]:
    return service.show(_ctx(request), caller, failover_id)


@router.post("/dr/reprotect", **answers(SystemRole),
             summary="after a failover, record the former primary as the system's copy")
def reprotect(request: Request, caller: Caller, body: SystemBody) -> dict[str, Any]:
    return service.reprotect(_ctx(request), caller, department=body.department,
                             system=body.system, confirm=body.confirm, change_id=body.change)


@router.post("/dr/failback", **answers(FailoverStarted), status_code=202,
             summary="fail a reprotected system back to production (a planned failover)")
def failback(request: Request, caller: Caller, body: SystemBody) -> dict[str, Any]:
    return service.failback(_ctx(request), _runs(request), caller,
                            department=body.department, system=body.system,
                            confirm=body.confirm, change_id=body.change)


@router.get("/dr/failover-plan", **answers(SitePlan),
            summary="losing a site: its systems by DR level in waves, if the receiving sites "
                    "can take them")
def site_plan(request: Request,
              _principal: Annotated[Principal, Depends(require(Action.VIEW_CAPACITY))],
              site: Annotated[Name, Query(description="the site to fail over")]
              ) -> dict[str, Any]:
    plane = get_plane(request)
    return service.site_plan(_ctx(request), site=site,
                             levels=inventory.dr_levels_of(plane.catalogue_cache),
                             cache=plane.snapshot)


@router.post("/dr/failover-site", **answers(SiteRunStarted), status_code=202,
             summary="fail a whole site over in waves by DR level, in the background")
def site_run(request: Request, caller: Caller, body: SiteRunBody) -> dict[str, Any]:
    plane = get_plane(request)
    return failover_site.run_site(_ctx(request), _runs(request), caller, site=body.site,
                                  unplanned=body.unplanned, confirm=body.confirm,
                                  levels=inventory.dr_levels_of(plane.catalogue_cache),
                                  cache=plane.snapshot, change_id=body.change)
