"""Read one site's overview through openstacksdk: Nova for hypervisors, services and servers,
Placement for capacity and usage (compute 2.88+ no longer reports them on hypervisors)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.domain.capacity import (
    DISK_GB,
    MEMORY_MB,
    VCPU,
    Inventory,
    ProviderResources,
    ResourceFigure,
    total_resources,
)
from govcloud.domain.summary import SiteSummary, count_statuses

log = logging.getLogger(__name__)

SERVER_PAGE = 1000
PLACEMENT_WORKERS = 8


def _provider_resources(conn: Connection, provider: Any) -> ProviderResources:
    inventories = {
        inv.resource_class: Inventory(
            resource_class=inv.resource_class,
            total=int(inv.total or 0),
            reserved=int(inv.reserved or 0),
            allocation_ratio=float(inv.allocation_ratio if inv.allocation_ratio is not None
                                   else 1.0),
        )
        for inv in conn.placement.resource_provider_inventories(provider)
    }
    with_usages = conn.placement.fetch_resource_provider_usages(provider)
    usages = {rc: int(n) for rc, n in (with_usages.usages or {}).items()}
    return ProviderResources(name=str(provider.name), inventories=inventories, usages=usages)


def placement_resources(conn: Connection, *,
                        workers: int = PLACEMENT_WORKERS) -> list[ProviderResources]:
    """Inventories and usages of every resource provider in the connection's region.

    Placement has no bulk call for these, so each provider costs two requests; ``workers``
    requests run at a time.
    """
    providers = list(conn.placement.resource_providers())
    if workers <= 1 or len(providers) < 2:
        return [_provider_resources(conn, p) for p in providers]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="placement") as pool:
        return list(pool.map(lambda p: _provider_resources(conn, p), providers))


def _compute_services(services: Iterable[Any]) -> tuple[int, int]:
    up = down = 0
    for svc in services:
        if svc.binary != "nova-compute":
            continue
        if svc.state == "up":
            up += 1
        else:
            down += 1
    return up, down


def server_statuses(conn: Connection, *, page: int = SERVER_PAGE) -> Iterator[str | None]:
    """The status of every server in the region, all projects, paged by ``page``.

    This pages ``/servers/detail`` through the SDK's compute proxy (its session, endpoint and
    auth) but reads the JSON directly: building an SDK ``Server`` object costs ~3 ms of CPU,
    which is minutes for a province's 30,000 servers, and only the status is needed here.
    """
    params: dict[str, str | int] = {"all_tenants": "1", "limit": page}
    while True:
        response = conn.compute.get("/servers/detail", params=params)
        sdk_exc.raise_from_response(response)
        doc = response.json()
        servers = doc.get("servers") or []
        for server in servers:
            yield server.get("status")
        more = any(link.get("rel") == "next" for link in doc.get("servers_links") or [])
        if not servers or not more:
            return
        params = {**params, "marker": servers[-1]["id"]}


def site_summary(conn: Connection, *, site: str,
                 workers: int = PLACEMENT_WORKERS) -> SiteSummary:
    """Hypervisors, compute services, Placement capacity and servers by status for a site."""
    with sdk_errors(f"site {site}"):
        hypervisors = sum(1 for _ in conn.compute.hypervisors())
        up, down = _compute_services(conn.compute.services())
        totals = total_resources(placement_resources(conn, workers=workers))
        statuses = count_statuses(server_statuses(conn))
    log.debug("site %s: %d hypervisors, %d servers", site, hypervisors, sum(statuses.values()))
    return SiteSummary(
        site=site,
        hypervisors=hypervisors,
        compute_services_up=up,
        compute_services_down=down,
        vcpu=totals.get(VCPU, ResourceFigure()),
        ram_mb=totals.get(MEMORY_MB, ResourceFigure()),
        disk_gb=totals.get(DISK_GB, ResourceFigure()),
        servers_by_status=statuses,
    )
