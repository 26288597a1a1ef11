"""Region API health: ``GET /health/probes`` (the newest probe of every site's service APIs)
and ``POST /health/probes`` (probe every site now, operator). (``GET /health`` is the
server's own liveness, in ``routes_core``.)

RBAC: reading needs any valid principal (the sites' API health names no department);
probing now needs ``sync.run`` on the whole cloud, as a sync does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from govcloud.api.deps import CurrentPrincipal, require
from govcloud.api.models import ProbedNow, Probes, answers
from govcloud.domain.rbac import Action, Principal
from govcloud.services import health as service
from govcloud.services.metrics import snapshots_for

router = APIRouter(tags=["health"])


def _stale_after(request: Request) -> float:
    return max(120.0, 4 * float(request.app.state.settings.probe_interval_s))


@router.get("/health/probes", **answers(Probes),
            summary="the newest probe of every site's service APIs")
def probes(request: Request, _principal: CurrentPrincipal) -> dict[str, Any]:
    state = request.app.state
    return service.health(state.engine, sites=state.settings.site_list(), now=state.clock(),
                          stale_after_s=_stale_after(request))


@router.post("/health/probes", **answers(ProbedNow),
             summary="probe every site's service APIs now (operator)")
def probe_now(request: Request,
              principal: Annotated[Principal, Depends(require(Action.SYNC_RUN))]
              ) -> dict[str, Any]:
    state = request.app.state
    service.prober_for(state).run()
    snapshots_for(state).refresh()
    answer = service.health(state.engine, sites=state.settings.site_list(), now=state.clock(),
                            stale_after_s=_stale_after(request))
    return {**answer, "by": principal.name}
