"""Where each kind of resource is listed and how one entry of it reads: a :class:`Listing`
declares the API, path, query and page size of a paged listing and names the parser that turns
one JSON entry into a govcloud domain value.

The parsers are pure functions of one response entry (no I/O). The inventory reader
(:class:`govcloud.cloud.inventory.SiteReader`) runs the listings; the sync's declarations
(:mod:`govcloud.services.sync_resources`) name them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from govcloud.domain.capacity import Inventory
from govcloud.domain.inventory import (
    ComputeServiceInfo,
    FlavorInfo,
    HostState,
    HostStatus,
    HypervisorInfo,
    ProviderInfo,
    QuotaFigure,
    QuotaInfo,
    ServerInfo,
    ServerTombstone,
    VolumeInfo,
)

T = TypeVar("T")

PAGE = 1000  # entries per page of every listing (``limit``)


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """A paged listing of one kind of resource: ``GET path`` on ``service`` (``compute``,
    ``placement`` or ``volume``) with ``params`` and ``limit=page``, the entries under ``key``
    in each page, followed by ``marker`` until a page has no ``<key>_links`` ``next`` link;
    each entry turned into a domain value by ``parse``. ``what`` names it in errors."""

    what: str
    service: str
    path: str
    key: str
    parse: Callable[[Mapping[str, Any]], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    page: int = PAGE


def parse_time(text: str | None) -> dt.datetime | None:
    """Nova/Placement timestamps (with or without ``Z`` / fraction) as aware UTC datetimes."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


# --- turning JSON into domain values -----------------------------------------------------------

def server_from_json(d: Mapping[str, Any]) -> ServerInfo:
    """A ``/servers/detail`` entry (admin, compute ≥ 2.47) as a :class:`ServerInfo`."""
    flavor = d.get("flavor") or {}
    image = d.get("image")
    image_id = image.get("id") if isinstance(image, Mapping) else None
    created = parse_time(d.get("created")) or dt.datetime.fromtimestamp(0, dt.UTC)
    addresses = {
        str(net): tuple(str(a["addr"]) for a in entries if isinstance(a, Mapping) and "addr" in a)
        for net, entries in (d.get("addresses") or {}).items()}
    return ServerInfo(
        id=str(d["id"]), name=str(d.get("name") or ""), project_id=str(d["tenant_id"]),
        user_id=d.get("user_id"), status=str(d.get("status") or "UNKNOWN").upper(),
        flavor_name=flavor.get("original_name"), vcpus=as_int(flavor.get("vcpus")),
        ram_mb=as_int(flavor.get("ram")), disk_gb=as_int(flavor.get("disk")),
        ephemeral_gb=as_int(flavor.get("ephemeral")), swap_mb=as_int(flavor.get("swap")),
        created=created, updated=parse_time(d.get("updated")) or created,
        host=d.get("OS-EXT-SRV-ATTR:host") or None,
        availability_zone=d.get("OS-EXT-AZ:availability_zone") or None,
        image_id=image_id or None, metadata=dict(d.get("metadata") or {}),
        tags=tuple(d.get("tags") or ()), addresses=addresses)


def tombstone_from_json(d: Mapping[str, Any]) -> ServerTombstone:
    return ServerTombstone(
        id=str(d["id"]), project_id=d.get("tenant_id"),
        deleted_at=parse_time(d.get("OS-SRV-USG:terminated_at")) or parse_time(d.get("updated")))


def service_from_json(d: Mapping[str, Any]) -> ComputeServiceInfo:
    return ComputeServiceInfo(
        id=str(d["id"]), binary=str(d.get("binary") or ""), host=str(d.get("host") or ""),
        zone=d.get("zone") or None,
        state=HostState.UP if d.get("state") == "up" else HostState.DOWN,
        status=HostStatus.ENABLED if d.get("status") == "enabled" else HostStatus.DISABLED,
        forced_down=bool(d.get("forced_down", False)),
        disabled_reason=d.get("disabled_reason"), updated_at=parse_time(d.get("updated_at")))


def inventories_from_json(doc: Mapping[str, Any]) -> dict[str, Inventory]:
    out = {}
    for rc, inv in (doc.get("inventories") or {}).items():
        ratio = inv.get("allocation_ratio")
        out[str(rc)] = Inventory(
            resource_class=str(rc), total=as_int(inv.get("total")),
            reserved=as_int(inv.get("reserved")),
            allocation_ratio=float(ratio) if ratio is not None else 1.0,
            max_unit=as_int(inv["max_unit"]) if inv.get("max_unit") is not None else None,
            min_unit=as_int(inv.get("min_unit", 1)) or 1,
            step_size=as_int(inv.get("step_size", 1)) or 1)
    return out


def hypervisor_from_json(d: Mapping[str, Any], *, zones: Mapping[str, str | None],
                         providers: Mapping[str, ProviderInfo]) -> HypervisorInfo:
    """A ``/os-hypervisors/detail`` entry joined with its compute service's zone and its
    resource provider (same uuid as the compute node, else the same name)."""
    service = d.get("service") or {}
    hostname = str(d.get("hypervisor_hostname") or "")
    hid = str(d["id"])
    provider = providers.get(hid) or providers.get(hostname)
    service_host = service.get("host")
    return HypervisorInfo(
        id=hid, hostname=hostname,
        state=HostState.UP if d.get("state") == "up" else HostState.DOWN,
        status=HostStatus.ENABLED if d.get("status") == "enabled" else HostStatus.DISABLED,
        availability_zone=zones.get(service_host) if service_host else None,
        service_host=service_host, service_id=str(service["id"]) if "id" in service else None,
        host_ip=d.get("host_ip"), hypervisor_type=d.get("hypervisor_type"),
        disabled_reason=service.get("disabled_reason"),
        provider_uuid=provider.uuid if provider else None,
        inventories=provider.inventories if provider else {},
        usages=provider.usages if provider else {},
        running_servers=len(d.get("servers") or ()))


def quota_from_json(project_id: str, doc: Mapping[str, Any]) -> QuotaInfo:
    figures = {
        str(name): QuotaFigure(limit=as_int(v.get("limit")), in_use=as_int(v.get("in_use")),
                               reserved=as_int(v.get("reserved")))
        for name, v in (doc.get("quota_set") or {}).items() if isinstance(v, Mapping)}
    return QuotaInfo(project_id=project_id, figures=figures)


def flavor_from_json(d: Mapping[str, Any]) -> FlavorInfo:
    """A ``/flavors/detail`` entry as a :class:`FlavorInfo`."""
    return FlavorInfo(
        id=str(d["id"]), name=str(d.get("name") or d["id"]), vcpus=as_int(d.get("vcpus")),
        ram_mb=as_int(d.get("ram")), disk_gb=as_int(d.get("disk")),
        ephemeral_gb=as_int(d.get("OS-FLV-EXT-DATA:ephemeral")), swap_mb=as_int(d.get("swap")),
        is_public=d.get("os-flavor-access:is_public", True) is not False)


def volume_from_json(d: Mapping[str, Any]) -> VolumeInfo:
    """A ``/volumes/detail`` entry (admin, volume API 3.0) as a :class:`VolumeInfo`."""
    attached = tuple(str(a["server_id"]) for a in d.get("attachments") or ()
                     if isinstance(a, Mapping) and a.get("server_id"))
    return VolumeInfo(
        id=str(d["id"]), name=str(d.get("name") or ""),
        project_id=str(d.get("os-vol-tenant-attr:tenant_id") or d.get("project_id") or ""),
        size_gb=as_int(d.get("size")), status=str(d.get("status") or "unknown").lower(),
        attached_to=attached, volume_type=d.get("volume_type") or None,
        bootable=str(d.get("bootable")).lower() == "true",
        updated_at=parse_time(d.get("updated_at")) or parse_time(d.get("created_at")))


# --- the listings ------------------------------------------------------------------------------

SERVERS = Listing("servers", "compute", "/servers/detail", "servers", server_from_json,
                  {"all_tenants": True})
FLAVORS = Listing("flavors", "compute", "/flavors/detail", "flavors", flavor_from_json,
                  {"is_public": "None"})  # public and private (admin)
VOLUMES = Listing("volumes", "volume", "/volumes/detail", "volumes", volume_from_json,
                  {"all_tenants": True})
