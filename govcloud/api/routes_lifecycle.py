"""A system's lifecycle (``/systems/{department}/{system}``): show it as it stands, and
request a scale, a resize or its retirement — each a request the bureau approves with
``POST /requests/{id}/approve`` (docs/lifecycle.md); and the reclaim report
(``/reports/reclaim``: what is paid for but unused, the candidates for a retirement). RBAC
and audit are the service's (``govcloud.services.lifecycle``): ``system.scale``,
``system.resize``, ``system.retire`` on the department, ``reclaim.view`` for the report; a
system of a department the caller may not see does not exist for them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from govcloud.api.contract import Identifier, name_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, plane_dependency
from govcloud.api.models import Submitted, answers
from govcloud.api.models.bodies import ResizeBody, RetireBody, ScaleBody
from govcloud.api.models.lifecycle import Reclaim, SystemDetail
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.lifecycle import scale_spec
from govcloud.domain.lifecycle_resize import resize_spec
from govcloud.services import lifecycle as service
from govcloud.services.plane import Plane
from govcloud.services.reclaim import MAX_DAYS, reclaim

router = APIRouter(tags=["systems"])
Plane_ = Annotated[Plane, Depends(plane_dependency)]
_UNCHANGED: dict[int | str, dict[str, Any]] = {200: {"model": Submitted,
                    "description": "the same request was open already: that one"}}


def _answer(response: Response, answer: dict[str, Any]) -> dict[str, Any]:
    if answer.get("unchanged"):
        response.status_code = 200
    return answer


@router.get("/systems/{department}/{system}", **answers(SystemDetail),
            summary="a system as it stands: its sites, groups, members and requests")
def show(department: Identifier, system: Identifier, principal: CurrentPrincipal,
         plane: Plane_) -> dict[str, Any]:
    return service.show_system(plane.provisioning, principal, department, system)


@router.post("/systems/{department}/{system}/scale", **answers(Submitted), status_code=201,
             responses=_UNCHANGED,
             summary="request a scale: servers added or removed in every site the system's "
                     "DR level requires (the bureau approves; a scale-out reserves)")
def scale(response: Response, department: Identifier, system: Identifier, body: ScaleBody,
          principal: CurrentPrincipal, plane: Plane_) -> dict[str, Any]:
    spec = scale_spec(body.servers, body.group, body.sites)
    return _answer(response, service.submit_scale(
        plane.provisioning, principal, department, system, spec, change=body.change,
        why=body.justification))


@router.post("/systems/{department}/{system}/resize", **answers(Submitted), status_code=201,
             responses=_UNCHANGED,
             summary="request a resize: a new flavor for some or all members, one server at "
                     "a time, DR copies too (the bureau approves; reserves the growth)")
def resize(response: Response, department: Identifier, system: Identifier, body: ResizeBody,
           principal: CurrentPrincipal, plane: Plane_) -> dict[str, Any]:
    spec = resize_spec(body.flavor, body.members)
    return _answer(response, service.submit_resize(
        plane.provisioning, principal, department, system, spec, change=body.change,
        why=body.justification))


@router.post("/systems/{department}/{system}/retire", **answers(Submitted), status_code=201,
             responses=_UNCHANGED,
             summary="request a retirement: servers shut off for a grace period, a final "
                     "snapshot kept, then deleted with the DR copies and protection")
def retire(response: Response, department: Identifier, system: Identifier, body: RetireBody,
           principal: CurrentPrincipal, plane: Plane_) -> dict[str, Any]:
    settings = plane.settings
    return _answer(response, service.submit_retire(
        plane.provisioning, principal, department, system,
        grace_days=settings.retire_grace_days if body.grace_days is None else body.grace_days,
        keep_days=settings.retire_keep_days if body.keep_days is None else body.keep_days,
        change=body.change, why=body.justification))


@router.get("/reports/reclaim", **answers(Reclaim), tags=["reports"],
            summary="what is paid for but unused, per department: servers shut off and "
                    "volumes unattached for more than `days` days, and the systems to retire")
def reclaim_report(principal: CurrentPrincipal, plane: Plane_,
                   catalogue: Annotated[Catalogue, Depends(get_catalogue)],
                   department: Annotated[str | None, name_query()] = None,
                   days: Annotated[float, Query(ge=0, le=MAX_DAYS, allow_inf_nan=False,
                                                description="idle for more than this many "
                                                            "days (default 30)")] = 30.0
                   ) -> dict[str, Any]:
    return reclaim(plane.engine, principal, catalogue, plane.sites, now=plane.clock(),
                   department=department, days=days)
