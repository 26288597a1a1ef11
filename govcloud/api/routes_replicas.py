"""``GET /status/replicas``: the ``govcloud serve`` replicas sharing the database, which one
holds each background worker's lease, and the database's role and replication lag (on SQLite:
one process). docs/high-availability.md explains what the operator reads there.

RBAC: ``plane.view`` on the whole cloud (the control plane's own machinery names no
department): every role but the scoped ones (city-operator, department-viewer).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from govcloud.api.deps import PlaneDep, require
from govcloud.api.models import ControlPlaneStatus, answers
from govcloud.domain.rbac import Action, Principal

router = APIRouter(tags=["core"])


@router.get("/status/replicas", **answers(ControlPlaneStatus),
            summary="the control plane's replicas, who holds each background worker, and the "
                    "database's role and replication lag")
def replicas(plane: PlaneDep,
             _principal: Annotated[Principal, Depends(require(Action.PLANE_VIEW))]
             ) -> dict[str, Any]:
    process = plane.worker_process
    return {**plane.replicas.status(),
            "worker_process": process.view() if process is not None else None}
