"""Change requests (``/changes``) and the change calendar (``/calendar``): submit, list,
show, approve, reject and cancel a change; a month of the calendar with the changes planned
in it; propose and approve a calendar version (docs/changes.md). RBAC is the services'
(``govcloud.services.changes``, ``govcloud.services.change_calendar``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from govcloud.api.contract import Id, Identifier, name_query, names_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, get_plane, plane_dependency
from govcloud.api.models import answers
from govcloud.api.models.bodies import Cancellation, Rejection
from govcloud.api.models.change_bodies import NewCalendar, NewChange
from govcloud.api.models.changes import (
    CalendarAnswer,
    CalendarMonth,
    ChangeList,
    ChangeRequest,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.domain.changes import ChangeType, OperationKind
from govcloud.domain.changes import NewChange as NewChangeSpec
from govcloud.services import change_calendar, changes
from govcloud.services.changes import ChangeContext, change_context
from govcloud.services.migration_access import Caller as CallerType
from govcloud.services.plane import Plane

router = APIRouter()
ChangeId = Annotated[int, Id]
Month_ = Annotated[str, Query(pattern=r"^[0-9]{4}-[0-9]{2}$", max_length=7,
                              description="the month, YYYY-MM, of the calendar's time zone")]


def _caller(principal: CurrentPrincipal,
            catalogue: Annotated[Catalogue, Depends(get_catalogue)]) -> CallerType:
    return CallerType(principal, catalogue)


Caller = Annotated[CallerType, Depends(_caller)]


def _ctx(request: Request) -> ChangeContext:
    plane = get_plane(request)
    return change_context(plane)


Ctx = Annotated[ChangeContext, Depends(_ctx)]
Plane_ = Annotated[Plane, Depends(plane_dependency)]


@router.post("/changes", **answers(ChangeRequest), status_code=201, tags=["changes"],
             summary="submit a change: normal (the bureau approves it), standard "
                     "(pre-approved by a policy) or emergency (runs at once)")
def submit(ctx: Ctx, caller: Caller, body: NewChange) -> dict[str, Any]:
    return changes.submit(ctx, caller, NewChangeSpec(
        kind=OperationKind(body.kind), type=ChangeType(body.type), title=body.title.strip(),
        departments=tuple(dict.fromkeys(body.departments)),
        sites=tuple(dict.fromkeys(body.sites)), start=body.start, end=body.end,
        rollback_plan=body.rollback_plan))


@router.get("/changes", **answers(ChangeList), tags=["changes"],
            summary="the changes the caller may see, newest first")
def listing(ctx: Ctx, caller: Caller,
            department: Annotated[str | None, name_query("only this department")] = None,
            state: Annotated[list[str] | None, names_query(
                "only these states (repeat the parameter)")] = None,
            kind: Annotated[str | None, name_query("only this operation kind")] = None,
            flagged: Annotated[bool, Query(description="only the changes the reports flag: "
                                           "emergency ones awaiting or overdue for approval, "
                                           "or run in a freeze")] = False,
            limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    return changes.listing(ctx, caller, department=department, states=state, kind=kind,
                           flagged=flagged, limit=limit)


@router.get("/changes/{change_id}", **answers(ChangeRequest), tags=["changes"],
            summary="a change with its approvals, rollback plan and the operations run "
                    "under it")
def show(ctx: Ctx, caller: Caller, change_id: ChangeId) -> dict[str, Any]:
    return changes.show(ctx, caller, change_id)


@router.post("/changes/{change_id}/approve", **answers(ChangeRequest), tags=["changes"],
             summary="approve (the bureau; not the requester; a level-5/6 department's "
                     "change needs two persons)")
def approve(ctx: Ctx, caller: Caller, change_id: ChangeId) -> dict[str, Any]:
    return changes.approve(ctx, caller, change_id)


@router.post("/changes/{change_id}/reject", **answers(ChangeRequest), tags=["changes"],
             summary="reject a change that has not run, with a reason")
def reject(ctx: Ctx, caller: Caller, change_id: ChangeId, body: Rejection) -> dict[str, Any]:
    return changes.reject(ctx, caller, change_id, reason=body.reason)


@router.post("/changes/{change_id}/cancel", **answers(ChangeRequest), tags=["changes"],
             summary="cancel a change that has not run")
def cancel(ctx: Ctx, caller: Caller, change_id: ChangeId,
           body: Cancellation | None = None) -> dict[str, Any]:
    return changes.cancel(ctx, caller, change_id, reason=body.reason if body else None)


@router.post("/changes/{change_id}/close", **answers(ChangeRequest), tags=["changes"],
             summary="close a change whose work ended or was abandoned (none of its "
                     "operations running), with a reason")
def close(ctx: Ctx, caller: Caller, change_id: ChangeId, body: Rejection) -> dict[str, Any]:
    return changes.close(ctx, caller, change_id, reason=body.reason)


@router.get("/calendar", **answers(CalendarMonth), tags=["changes"],
            summary="a month of the change calendar: windows, their openings, freezes and "
                    "the changes planned")
def calendar(ctx: Ctx, caller: Caller, month: Month_,
             site: Annotated[str | None, name_query("only this site")] = None,
             department: Annotated[str | None, name_query("only this department")] = None
             ) -> dict[str, Any]:
    return changes.calendar_month(ctx, caller, month, site=site, department=department)


@router.post("/calendar", **answers(CalendarAnswer), status_code=201, tags=["changes"],
             summary="propose a calendar version (its YAML text); it is in force once "
                     "another person of the bureau approves it")
def propose_calendar(plane: Plane_, caller: Caller, body: NewCalendar) -> dict[str, Any]:
    return change_calendar.propose(
        plane.engine, caller.principal, body.document, departments=caller.catalogue.codes,
        sites=[s.name for s in plane.sites], clock=plane.clock)


@router.post("/calendar/{version}/approve", **answers(CalendarAnswer), tags=["changes"],
             summary="approve a proposed calendar version (a bureau-admin who is another "
                     "person than its proposer); it is in force from now on")
def approve_calendar(plane: Plane_, caller: Caller, version: Identifier) -> dict[str, Any]:
    return change_calendar.approve(
        plane.engine, caller.principal, version, departments=caller.catalogue.codes,
        sites=[s.name for s in plane.sites], clock=plane.clock)
