"""Compute hosts' maintenance (docs/hosts.md): ``POST /hosts/{site}/{host}/drain``,
``POST /hosts/{site}/{host}/restore``, ``GET /hosts/compute`` and ``GET /hosts/drains/{id}``.
(``/hosts`` itself and ``/hosts/{name}/...`` are a migration's legacy hosts:
``routes_migrate``.) RBAC is the service's (``govcloud.services.hosts``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from govcloud.api.contract import Id, Identifier, cursor, name_query
from govcloud.api.deps import CurrentPrincipal, get_catalogue, get_plane
from govcloud.api.models import answers
from govcloud.api.models.hosts import (
    ComputeHosts,
    Drain,
    DrainStarted,
    HostChangeBody,
    HostRestored,
)
from govcloud.domain.catalogue import Catalogue
from govcloud.services import hosts as service
from govcloud.services.host_state import HostsContext
from govcloud.services.migration_access import Caller
from govcloud.services.plane_contexts import hosts_context
from govcloud.services.step_machine import Runs

router = APIRouter(tags=["hosts"])
DrainId = Annotated[int, Id]
Catalogue_ = Annotated[Catalogue, Depends(get_catalogue)]


def _ctx(request: Request) -> HostsContext:
    return hosts_context(get_plane(request))


def _runs(request: Request) -> Runs:
    runs: Runs = get_plane(request).host_runs
    return runs


@router.post("/hosts/{site}/{host}/drain", **answers(DrainStarted), status_code=202,
             summary="drain a compute host in the background (or resume its unfinished "
                     "drain): disable it, move its servers, put it in maintenance")
def drain(request: Request, principal: CurrentPrincipal, catalogue: Catalogue_,
          site: Identifier, host: Identifier,
          body: HostChangeBody | None = None) -> dict[str, Any]:
    return service.start_drain(_ctx(request), _runs(request), Caller(principal, catalogue),
                               site=site, host=host, change_id=body.change if body else None)


@router.post("/hosts/{site}/{host}/restore", **answers(HostRestored),
             summary="enable a drained host's nova-compute again, out of maintenance")
def restore(request: Request, principal: CurrentPrincipal, catalogue: Catalogue_,
            site: Identifier, host: Identifier,
            body: HostChangeBody | None = None) -> dict[str, Any]:
    return service.restore(_ctx(request), _runs(request), Caller(principal, catalogue),
                           site=site, host=host, change_id=body.change if body else None)


@router.get("/hosts/compute", **answers(ComputeHosts),
            summary="compute hosts as last synced, with their maintenance marks and drains")
def compute_hosts(request: Request, principal: CurrentPrincipal,
                  site: Annotated[str | None, name_query("only this site")] = None
                  ) -> dict[str, Any]:
    return service.listing(_ctx(request), principal, site=site)


@router.get("/hosts/drains/{drain_id}", **answers(Drain),
            summary="a drain with its servers and its progress events")
def show_drain(request: Request, principal: CurrentPrincipal, drain_id: DrainId,
               after_event: Annotated[int, cursor("only the events after this id")] = 0
               ) -> dict[str, Any]:
    return service.show_drain(_ctx(request), _runs(request), principal, drain_id,
                              after_event=after_event)
