"""Region API health: ``GET /health/probes`` (the newest probe of every site's service APIs)
and ``POST /health/probes`` (probe every site now, operator). (``GET /health`` is the
server's own liveness, in ``routes_core``.)

RBAC: reading needs any valid principal (the sites' API health names no department);
probing now needs ``sync.run`` on the whole cloud, as a sync does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from govcloud.api.deps import CurrentPrincipal, PlaneDep, require
from govcloud.api.models import ProbedNow, Probes, answers
from govcloud.domain.rbac import Action, Principal
from govcloud.services import health as service
from govcloud.services.plane import Plane

router = APIRouter(tags=["health"])


def _health(plane: Plane) -> dict[str, Any]:
    stale_after = max(120.0, 4 * float(plane.settings.probe_interval_s))
    return service.health(plane.engine, sites=plane.sites, now=plane.clock(),
                          stale_after_s=stale_after)


@router.get("/health/probes", **answers(Probes),
            summary="the newest probe of every site's service APIs")
def probes(plane: PlaneDep, _principal: CurrentPrincipal) -> dict[str, Any]:
    return _health(plane)


@router.post("/health/probes", **answers(ProbedNow),
             summary="probe every site's service APIs now (operator)")
def probe_now(plane: PlaneDep,
              principal: Annotated[Principal, Depends(require(Action.SYNC_RUN))]
              ) -> dict[str, Any]:
    plane.prober.run()
    plane.metrics.refresh()
    return {**_health(plane), "by": principal.name}
