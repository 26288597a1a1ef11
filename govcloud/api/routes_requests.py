"""Provisioning requests (``/requests``): submit, list, show (with progress events), approve,
reject and cancel; ``/provisioning/policy`` shows the DR policy table and auto-approvals.

RBAC and audit are the service's (``govcloud.services.provisioning``); a request of a
department the caller may not see is reported as not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import Field

from govcloud.api.contract import Id, cursor, name_query, names_query
from govcloud.api.deps import CurrentPrincipal, get_plane
from govcloud.api.models import (
    ProvisioningPolicy,
    ProvisionRequest,
    RequestDetail,
    RequestList,
    Submitted,
    answers,
)
from govcloud.api.models.bodies import Cancellation, DocumentedAs, Rejection, RequestSpecBody
from govcloud.domain.limits import MAX_NAME
from govcloud.services import provisioning as svc

router = APIRouter(tags=["requests"])


def _ctx(request: Request) -> svc.ProvisioningContext:
    return get_plane(request).provisioning


Ctx = Annotated[svc.ProvisioningContext, Depends(_ctx)]


def _wake(request: Request) -> None:
    worker = get_plane(request).provision_worker
    if worker is not None:
        worker.wake()


@router.post("/requests", **answers(Submitted), status_code=201,
             responses={200: {"model": Submitted,
                              "description": "the same request was live: that one"}},
             summary="submit a provisioning request (auto-approved when the department's "
                     "policy allows); the same request for a system that has one live "
                     "answers that one (200, unchanged), a different one is 409")
def submit(request: Request, response: Response, principal: CurrentPrincipal, ctx: Ctx,
           body: Annotated[Any, Body(title="RequestSpecBody"), DocumentedAs(RequestSpecBody)]
           ) -> dict[str, Any]:
    # the JSON as sent: the service's parse checks it, with a request file's messages
    answer = svc.submit(ctx, principal, body)
    if answer.get("unchanged"):
        response.status_code = 200
    elif answer["state"] == "approved":
        _wake(request)
    return answer


@router.get("/requests", **answers(RequestList),
            summary="requests the caller may see, newest first")
def list_requests(principal: CurrentPrincipal, ctx: Ctx,
                  state: Annotated[list[Annotated[str, Field(max_length=MAX_NAME)]] | None,
                                   names_query("states (repeat the parameter)")] = None,
                  department: Annotated[str | None, name_query()] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    return svc.list_requests(ctx, principal, states=state, department=department,
                             limit=limit)


@router.get("/requests/{request_id}", **answers(RequestDetail),
            summary="one request with its servers and progress events after `after_event`")
def show(request_id: Annotated[int, Id], principal: CurrentPrincipal, ctx: Ctx,
         after_event: Annotated[int, cursor("events after this id")] = 0) -> dict[str, Any]:
    return svc.show(ctx, principal, request_id, after_event=after_event)


@router.post("/requests/{request_id}/approve", **answers(ProvisionRequest),
             summary="approve: reserves capacity and quota, or 409 insufficient capacity")
def approve(request: Request, request_id: Annotated[int, Id], principal: CurrentPrincipal,
            ctx: Ctx) -> dict[str, Any]:
    answer = svc.approve(ctx, principal, request_id)
    _wake(request)
    return answer


@router.post("/requests/{request_id}/reject", **answers(ProvisionRequest),
             summary="reject with a reason")
def reject(request_id: Annotated[int, Id], principal: CurrentPrincipal, ctx: Ctx,
           body: Rejection) -> dict[str, Any]:
    return svc.reject(ctx, principal, request_id, body.reason)


@router.post("/requests/{request_id}/cancel", **answers(ProvisionRequest),
             summary="cancel a submitted or approved request (releases its reservation); "
                     "a retirement in its grace period is rolled back")
def cancel(request_id: Annotated[int, Id], principal: CurrentPrincipal, ctx: Ctx,
           body: Cancellation | None = None) -> dict[str, Any]:
    return svc.cancel(ctx, principal, request_id, body.reason if body else None)


@router.get("/provisioning/policy", **answers(ProvisioningPolicy),
            summary="the DR policy table and auto-approval policies")
def policy(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    del principal  # any authenticated principal may read the rules
    return {"dr_policy": ctx.policy.to_list(),
            "auto_approve": {code: {"max_vcpu": p.max_vcpu, "per_month": p.per_month,
                                    "approver": p.approver}
                             for code, p in sorted(ctx.auto_approve.items())},
            "group_policy": ctx.group_policy}
