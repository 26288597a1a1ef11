"""Tenancy (``/tenants/plan``, ``/tenants/apply``) and departments (``/departments``).

A principal scoped to a city or a department plans, applies and sees only its own
departments; one that asks for another department is told it does not exist (404), so that
nothing about other departments leaks. Applies are serialised (one at a time per server) and
every change made in a cloud is audited with the caller as the actor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine

from govcloud.api.contract import Identifier, names_query
from govcloud.api.deps import (
    Clock,
    Clouds,
    get_catalogue,
    get_clock,
    get_clouds,
    get_engine,
    get_plane,
    require,
)
from govcloud.api.fields import Name
from govcloud.api.models import DepartmentList, DepartmentView, TenancyApplied, TenancyPlan, answers
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.limits import MAX_ID
from govcloud.domain.rbac import Action, Principal
from govcloud.services.access import codes_asked, get_department, visible
from govcloud.services.changes import ChangeContext
from govcloud.services.migration_access import Caller
from govcloud.services.tenancy import department_view, plan_tenancy
from govcloud.services.tenancy_change import apply_under_change

router = APIRouter()

Catalogue_ = Annotated[Catalogue, Depends(get_catalogue)]
Clouds_ = Annotated[Clouds, Depends(get_clouds)]
Departments = Annotated[list[Name] | None, names_query(
    "restrict to these department codes (repeat the parameter)")]


@router.get("/tenants/plan", **answers(TenancyPlan), tags=["tenancy"],
            summary="what apply would change in each site (changes nothing)")
def plan(principal: Annotated[Principal, Depends(require(Action.TENANCY_PLAN, scoped=True))],
         catalogue: Catalogue_, clouds: Clouds_,
         department: Departments = None) -> dict[str, Any]:
    codes = codes_asked(principal, catalogue, Action.TENANCY_PLAN, department)
    result = plan_tenancy(catalogue, connections=clouds.connections(), departments=codes)
    return {**result.to_dict(), "lines": result.lines()}


@router.post("/tenants/apply", **answers(TenancyApplied), tags=["tenancy"],
             summary="make every site match the catalogue (idempotent, audited), under an approved "
                     "change")
def apply(request: Request,
          principal: Annotated[Principal, Depends(require(Action.TENANCY_APPLY, scoped=True))],
          catalogue: Catalogue_, clouds: Clouds_,
          engine: Annotated[Engine, Depends(get_engine)],
          clock: Annotated[Clock, Depends(get_clock)],
          department: Departments = None,
          change: Annotated[int | None, Query(
              ge=1, le=MAX_ID, description="the approved change this apply runs under "
                                           "(docs/changes.md); required when change "
                                           "control is enforced")] = None) -> dict[str, Any]:
    plane = get_plane(request)
    ctx = ChangeContext.of(engine=engine, settings=plane.settings, clock=clock,
                           notifier=plane.notifier)
    return apply_under_change(ctx, Caller(principal, catalogue), catalogue,
                              connections=clouds.connections(), engine=engine,
                              departments=department, change_id=change,
                              lock=plane.apply_lock)


@router.get("/departments", **answers(DepartmentList), tags=["departments"],
            summary="the departments the caller may see, from the catalogue")
def list_departments(
        principal: Annotated[Principal,
                             Depends(require(Action.VIEW_DEPARTMENT, scoped=True))],
        catalogue: Catalogue_) -> dict[str, Any]:
    shown = visible(principal, catalogue, Action.VIEW_DEPARTMENT)
    return {"departments": [d.to_dict() for d in shown], "count": len(shown)}


@router.get("/departments/{code}", **answers(DepartmentView), tags=["departments"],
            summary="one department in every site: projects, quotas, usage, servers by status")
def show_department(
        code: Identifier,
        principal: Annotated[Principal,
                             Depends(require(Action.VIEW_DEPARTMENT, scoped=True))],
        catalogue: Catalogue_, clouds: Clouds_) -> dict[str, Any]:
    get_department(principal, catalogue, code, Action.VIEW_DEPARTMENT)
    view = department_view(code, catalogue=catalogue, connections=clouds.connections())
    return view.to_dict()
