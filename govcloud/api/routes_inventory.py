"""Inventory: ``POST /sync``, ``GET /sync/status``, ``GET /capacity``, ``GET /servers`` and
``GET /status``. Answers come from the stored snapshot and say how fresh it is.

RBAC: sync needs ``sync.run`` on the whole cloud (operator, bureau-admin); capacity needs
``capacity.view`` on the whole cloud (site figures and the what-if name every department);
servers and status are open to every principal who may view servers somewhere, narrowed to
the departments it may see.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Engine

from govcloud.api.contract import name_query, names_query
from govcloud.api.deps import CurrentPrincipal, get_clock, get_engine, get_plane, require
from govcloud.api.fields import Name
from govcloud.api.models import Capacity, ServerPage, Status, SyncAnswer, SyncStatus, answers
from govcloud.api.models.bodies import SyncRequest
from govcloud.domain.limits import MAX_LINE
from govcloud.domain.rbac import Action, Principal
from govcloud.services import health, inventory_status
from govcloud.services import inventory as service
from govcloud.services import server_listing as listing
from govcloud.services.plane import utcnow
from govcloud.settings import Settings

router = APIRouter(tags=["inventory"])

Engine_ = Annotated[Engine, Depends(get_engine)]


def _settings(request: Request) -> Settings:
    return get_plane(request).settings


def _catalogue(request: Request) -> dict[str, str | None]:
    return service.catalogue_departments(get_plane(request).catalogue_cache)


@router.post("/sync", **answers(SyncAnswer),
             summary="sync sites now (operator); waits for the sync to finish")
def run_sync(request: Request,
             principal: Annotated[Principal, Depends(require(Action.SYNC_RUN, scoped=True))],
             body: SyncRequest | None = None) -> dict[str, Any]:
    body = body or SyncRequest()
    plane = get_plane(request)
    # a city-operator syncs its city's sites (docs/city-clouds.md)
    sites = service.sync_sites(principal, plane.sites, body.sites)
    process = plane.worker_process  # the worker process syncs, not the API process
    answer = process.sync(sites, full=body.full) if process is not None else None
    if answer is None:
        answer = plane.syncer.sync(sites, full=body.full).to_dict()
        plane.metrics.refresh_soon()  # /metrics shows it at the next scrape
    plane.dr_posture.refresh_soon()  # and /dr/posture (once it has been read)
    return {**answer, "by": principal.name}


@router.get("/sync/status", **answers(SyncStatus),
            summary="freshness of every site: last success, duration, error")
def sync_status(request: Request, engine: Engine_,
                _principal: CurrentPrincipal) -> dict[str, Any]:
    return service.sync_status(engine, sites=[s.name for s in _settings(request).site_list()])


@router.get("/capacity", **answers(Capacity),
            summary="capacity per site; flavor fit and lose-a-site what-if")
def capacity(request: Request, engine: Engine_,
             principal: Annotated[Principal, Depends(require(Action.VIEW_CAPACITY,
                                                             scoped=True))],
             site: Annotated[str | None, name_query()] = None,
             flavor: Annotated[str | None, name_query("how many more of it fit")] = None,
             what_if_lose: Annotated[str | None, name_query("site to imagine lost")] = None,
             fit: Annotated[list[Name] | None, names_query(
                 "flavors (repeat the parameter) to count fits for, each; flavors "
                 "no site has are left out")] = None) -> dict[str, Any]:
    plane = get_plane(request)
    levels = service.dr_levels_of(plane.catalogue_cache) if what_if_lose else {}
    city_dr = service.city_dr_of(plane.catalogue_cache) \
        if what_if_lose and plane.settings.dr_city_sites else {}
    sites = service.capacity_sites(principal, plane.sites, what_if_lose=what_if_lose)
    return service.capacity(engine, sites=sites, site=site,
                            flavor=flavor, what_if_lose=what_if_lose, dr_levels=levels,
                            now=plane.clock(), fit=fit or (), cache=plane.snapshot,
                            city_dr=city_dr)


@router.get("/servers", **answers(ServerPage),
            summary="servers, paged and filtered, within the caller's scope")
def servers(request: Request, engine: Engine_,
            principal: Annotated[Principal, Depends(require(Action.VIEW_SERVERS, scoped=True))],
            department: Annotated[str | None, name_query()] = None,
            site: Annotated[str | None, name_query()] = None,
            status: Annotated[str | None, name_query()] = None,
            limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = service.DEFAULT_PAGE,
            cursor: Annotated[str | None, Query(
                max_length=MAX_LINE, description="next_cursor of the page before")] = None,
            changed_since: Annotated[str | None, Query(
                max_length=MAX_LINE, description="changes_cursor of an earlier answer: only "
                "the servers changed since, and the ids of those gone (a cursor that is "
                "unknown or too old answers with every server and full: true)")] = None
            ) -> dict[str, Any]:
    return listing.list_servers(
        engine, principal=principal, sites=[s.name for s in _settings(request).site_list()],
        catalogue=_catalogue(request), department=department, site=site, status=status,
        limit=limit, cursor=cursor, changed_since=changed_since)


@router.get("/status", **answers(Status),
            summary="one screenful: sites, health, freshness, totals, alerts")
def status(request: Request, engine: Engine_,
           principal: Annotated[Principal, Depends(require(Action.VIEW_SERVERS, scoped=True))],
           clock: Annotated[Any, Depends(get_clock)]) -> dict[str, Any]:
    settings = _settings(request)
    stale_after = max(300.0, 3 * settings.sync_interval_s)
    now = (clock or utcnow)()
    answer = inventory_status.status(
        engine, principal=principal, sites=settings.site_list(), catalogue=_catalogue(request),
        now=now, stale_after_s=stale_after, cache=get_plane(request).snapshot)
    probes = health.health(engine, sites=settings.site_list(), now=now,
                           stale_after_s=max(120.0, 4 * settings.probe_interval_s))
    return health.annotate_status(answer, probes)
