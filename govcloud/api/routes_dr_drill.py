"""DR drills (``/dr/drills``): plan, approve, run, show (JSON or the Markdown report) and
clean up (docs/dr.md, "Drills"). RBAC is the service's (``govcloud.services.drill``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from govcloud.api.contract import Id, name_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, get_plane
from govcloud.api.models import answers
from govcloud.api.models.change_bodies import UnderChange
from govcloud.api.models.dr_drill import (
    Drill,
    DrillCleanedUp,
    DrillList,
    DrillPlanBody,
    DrillReport,
    DrillRunStarted,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.services import drill as service
from govcloud.services.drill_state import DrillContext
from govcloud.services.migration_access import Caller as CallerType
from govcloud.services.plane_contexts import drill_context
from govcloud.services.step_machine import Runs

router = APIRouter(tags=["dr"])
MARKDOWN = "text/markdown"
PDF = "application/pdf"
DrillId = Annotated[int, Id]


def _caller(principal: CurrentPrincipal,
            catalogue: Annotated[Catalogue, Depends(get_catalogue)]) -> CallerType:
    return CallerType(principal, catalogue)


Caller = Annotated[CallerType, Depends(_caller)]


def _ctx(request: Request) -> DrillContext:
    return drill_context(get_plane(request))


def _runs(request: Request) -> Runs:
    runs: Runs = get_plane(request).drill_runs
    return runs


@router.post("/dr/drills", **answers(Drill), status_code=201,
             summary="plan a drill of a system (or a whole department) into a DR site")
def plan(request: Request, caller: Caller, body: DrillPlanBody) -> dict[str, Any]:
    return service.plan(_ctx(request), caller, department=body.department,
                        system=body.system, site=body.site)


@router.get("/dr/drills", **answers(DrillList), summary="the drills the caller may see")
def listing(request: Request, caller: Caller,
            department: Annotated[str | None, name_query("only this department")] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    return service.listing(_ctx(request), caller, department=department, limit=limit)


@router.get("/dr/drills/{drill_id}", **answers(Drill),
            summary="a drill with its steps and evidence")
def show(request: Request, caller: Caller, drill_id: DrillId) -> dict[str, Any]:
    return service.show(_ctx(request), caller, drill_id)


@router.get("/dr/drills/{drill_id}/report", **answers(DrillReport),
            responses={200: {"content": {MARKDOWN: {"schema": {"type": "string"}},
                                         PDF: {"schema": {"type": "string",
                                                          "format": "binary"}}}}},
            summary="a drill's evidence as a report: text/markdown or application/pdf when "
                    "the client accepts it, else JSON holding the Markdown")
def report(request: Request, caller: Caller, drill_id: DrillId) -> Any:
    if PDF in request.headers.get("accept", ""):
        return Response(service.pdf(_ctx(request), caller, drill_id), media_type=PDF,
                        headers={"Content-Disposition":
                                 f'attachment; filename="drill-{drill_id}.pdf"'})
    text = service.markdown(_ctx(request), caller, drill_id)
    if MARKDOWN in request.headers.get("accept", ""):
        return PlainTextResponse(text, media_type=f"{MARKDOWN}; charset=utf-8")
    return {"drill": drill_id, "media_type": MARKDOWN, "markdown": text}


@router.post("/dr/drills/{drill_id}/approve", **answers(Drill),
             summary="approve a planned drill (the bureau; not the requester)")
def approve(request: Request, caller: Caller, drill_id: DrillId) -> dict[str, Any]:
    return service.approve(_ctx(request), caller, drill_id)


@router.post("/dr/drills/{drill_id}/run", **answers(DrillRunStarted), status_code=202,
             summary="run (or resume) an approved drill in the background, under its change "
                     "(or plan it for the change's window)")
def run(request: Request, caller: Caller, drill_id: DrillId,
        body: UnderChange | None = None) -> dict[str, Any]:
    return service.start_run(_ctx(request), _runs(request), caller, drill_id,
                             change_id=body.change if body else None)


@router.post("/dr/drills/{drill_id}/cleanup", **answers(DrillCleanedUp),
             summary="delete whatever the drill made, in every region, and check (idempotent)")
def cleanup(request: Request, caller: Caller, drill_id: DrillId) -> dict[str, Any]:
    return service.cleanup(_ctx(request), _runs(request), caller, drill_id)

