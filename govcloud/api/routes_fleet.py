"""Reads for the console: ``GET /hypervisors``, ``GET /hypervisors/{site}/{host}/servers``,
``GET /servers/{site}/{id}`` and ``GET /usage`` (quota usage per department and site).

RBAC: hypervisors and their servers need ``capacity.view`` on the whole cloud; one server
and the usage are open to every principal who may view servers (or departments) somewhere,
narrowed to the departments it may see (another department's server is a 404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Engine

from govcloud.api.contract import Identifier, name_query
from govcloud.api.deps import get_engine, get_plane, require
from govcloud.api.models import HostServers, Hypervisors, ServerDetail, Usage, answers
from govcloud.domain.rbac import Action, Principal
from govcloud.services import fleet
from govcloud.services import inventory as inv

router = APIRouter(tags=["inventory"])

Engine_ = Annotated[Engine, Depends(get_engine)]


def _sites(request: Request) -> list[str]:
    return [s.name for s in get_plane(request).sites]


@router.get("/hypervisors", **answers(Hypervisors),
            summary="hypervisors with vCPU/RAM/disk per host; services down")
def hypervisors(request: Request, engine: Engine_,
                _principal: Annotated[Principal, Depends(require(Action.VIEW_CAPACITY))],
                site: Annotated[str | None, name_query()] = None,
                hosts: bool = True) -> dict[str, Any]:
    return fleet.hypervisors(engine, sites=_sites(request), site=site, hosts=hosts,
                             cache=get_plane(request).snapshot)


@router.get("/hypervisors/{site}/{host}/servers", **answers(HostServers),
            summary="the servers on one hypervisor")
def host_servers(request: Request, engine: Engine_, site: Identifier, host: Identifier,
                 _principal: Annotated[Principal, Depends(require(Action.VIEW_CAPACITY))]
                 ) -> dict[str, Any]:
    return fleet.host_servers(engine, sites=_sites(request), site=site, host=host)


@router.get("/servers/{site}/{server_id}", **answers(ServerDetail),
            summary="one server: stored figures, and addresses, metadata, tags read live")
def server(request: Request, engine: Engine_, site: Identifier, server_id: Identifier,
           principal: Annotated[Principal, Depends(require(Action.VIEW_SERVERS, scoped=True))]
           ) -> dict[str, Any]:
    plane = get_plane(request)
    return fleet.server_detail(engine, principal=principal, sites=_sites(request),
                               catalogue=inv.catalogue_departments(plane.catalogue_cache),
                               site=site, server_id=server_id,
                               live=fleet.live_reader(plane.clouds.connections))


@router.get("/usage", **answers(Usage),
            summary="quota usage, servers and last change per department and site")
def usage(request: Request, engine: Engine_,
          principal: Annotated[Principal, Depends(require(Action.VIEW_DEPARTMENT, scoped=True))]
          ) -> dict[str, Any]:
    return fleet.usage(engine, principal=principal,
                       catalogue=inv.catalogue_departments(get_plane(request).catalogue_cache))
