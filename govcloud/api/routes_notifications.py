"""Notifications (``/notifications``): the messages sent to the departments' contacts and
webhooks, and retrying one (docs/notifications.md). RBAC and audit are the service's
(``govcloud.services.notifications``): ``notification.view`` scoped to the departments the
caller may see, ``notification.retry`` for operators and the bureau; a message of a
department the caller may not see is "no notification N"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from govcloud.api.contract import Id, name_query
from govcloud.api.deps import CurrentPrincipal, PlaneDep, get_catalogue
from govcloud.api.models import answers
from govcloud.api.models.notifications import Notification, NotificationList
from govcloud.domain.limits import MAX_ID
from govcloud.services import notifications as svc

router = APIRouter(tags=["notifications"])


@router.get("/notifications", **answers(NotificationList),
            summary="messages to the departments the caller may see, newest first")
def listing(plane: PlaneDep, principal: CurrentPrincipal,
            state: Annotated[str | None, name_query("pending, sent or dead")] = None,
            department: Annotated[str | None, name_query("only this department")] = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 100,
            before: Annotated[int | None, Query(ge=1, le=MAX_ID,
                                                description="ids below this one (the "
                                                            "answer's next_before)")] = None
            ) -> dict[str, Any]:
    return svc.list_messages(plane.engine, principal, get_catalogue(plane), state=state,
                             department=department, limit=limit, before=before)


@router.post("/notifications/{notification_id}/retry", **answers(Notification),
             summary="try a pending or dead message again now (notification.retry; audited)")
def retry(plane: PlaneDep, principal: CurrentPrincipal,
          notification_id: Annotated[int, Id]) -> dict[str, Any]:
    answer = svc.retry(plane.engine, principal, get_catalogue(plane), notification_id,
                       clock=plane.clock)
    if plane.notifier_worker is not None:
        plane.notifier_worker.wake()
    return answer
