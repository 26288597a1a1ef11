"""What an inventory sync reads from a site: hypervisors with their Placement inventories and
usages, compute services, servers (and tombstones of deleted ones), resource providers and
per-project compute quotas. Plain values; the cloud adapter builds them, nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from govcloud.domain.capacity import Inventory, Resources, flavor_request

COMPUTE_BINARY = "nova-compute"


class HostState(StrEnum):
    """Whether the host's compute service heartbeats (Nova's ``state``)."""

    UP = "up"
    DOWN = "down"


class HostStatus(StrEnum):
    """Whether an operator lets the scheduler use the host (Nova's ``status``)."""

    ENABLED = "enabled"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class ComputeServiceInfo:
    """One Nova service (nova-compute, nova-scheduler, nova-conductor, ...) on one host."""

    id: str
    binary: str
    host: str
    zone: str | None
    state: HostState
    status: HostStatus
    forced_down: bool = False
    disabled_reason: str | None = None
    updated_at: dt.datetime | None = None

    @property
    def up(self) -> bool:
        return self.state is HostState.UP and not self.forced_down

    @property
    def is_compute(self) -> bool:
        return self.binary == COMPUTE_BINARY


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A Placement resource provider with its inventories and usages."""

    uuid: str
    name: str
    root_uuid: str | None = None
    parent_uuid: str | None = None
    generation: int | None = None
    inventories: Mapping[str, Inventory] = field(default_factory=dict)
    usages: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HypervisorInfo:
    """A compute host: Nova's view (state, status, servers) joined with its resource provider.

    ``inventories``/``usages`` come from Placement: at compute API 2.88 and later the
    hypervisor API no longer carries vCPU/RAM/disk figures at all.
    """

    id: str
    hostname: str
    state: HostState
    status: HostStatus
    availability_zone: str | None = None
    service_host: str | None = None
    service_id: str | None = None
    host_ip: str | None = None
    hypervisor_type: str | None = None
    disabled_reason: str | None = None
    provider_uuid: str | None = None
    inventories: Mapping[str, Inventory] = field(default_factory=dict)
    usages: Mapping[str, int] = field(default_factory=dict)
    running_servers: int = 0

    @property
    def up(self) -> bool:
        return self.state is HostState.UP

    @property
    def schedulable(self) -> bool:
        """Up and enabled: the scheduler may place new servers here."""
        return self.state is HostState.UP and self.status is HostStatus.ENABLED


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """One server as the admin listing shows it, with its flavor's size embedded."""

    id: str
    name: str
    project_id: str
    status: str
    flavor_name: str | None
    vcpus: int
    ram_mb: int
    disk_gb: int
    created: dt.datetime
    updated: dt.datetime
    user_id: str | None = None
    ephemeral_gb: int = 0
    swap_mb: int = 0
    host: str | None = None
    availability_zone: str | None = None
    image_id: str | None = None  # None: boots from a volume
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # network → IPs

    @property
    def boot_from_volume(self) -> bool:
        return self.image_id is None

    @property
    def placed(self) -> bool:
        """Whether the server sits on a host (and so holds an allocation there)."""
        return self.host is not None

    def resources(self) -> Resources:
        """What the server holds on its host in Placement's terms (zero when not placed)."""
        if not self.placed:
            return Resources()
        return flavor_request(vcpus=self.vcpus, ram_mb=self.ram_mb, disk_gb=self.disk_gb,
                              ephemeral_gb=self.ephemeral_gb, swap_mb=self.swap_mb,
                              boot_from_volume=self.boot_from_volume)


@dataclass(frozen=True, slots=True)
class ServerTombstone:
    """A server that was deleted: all an incremental sync needs to drop it."""

    id: str
    project_id: str | None
    deleted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ServerChanges:
    """Servers changed since ``since`` (new or updated) and those deleted since then.

    ``next_since`` is what to pass as ``since`` next time: the site's own clock when the
    listing began, less a small overlap, so nothing changed during the listing is missed
    (servers seen twice are simply upserted twice).
    """

    site: str
    since: dt.datetime
    next_since: dt.datetime
    changed: tuple[ServerInfo, ...]
    deleted: tuple[ServerTombstone, ...]


@dataclass(frozen=True, slots=True)
class QuotaFigure:
    """One quota of one project: its limit (negative means unlimited) and what is in use."""

    limit: int
    in_use: int = 0
    reserved: int = 0

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def remaining(self) -> int | None:
        """What may still be used; None when unlimited."""
        return None if self.unlimited else max(0, self.limit - self.in_use - self.reserved)


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    """A project's compute quotas in one site (Nova's names: cores, ram, instances, ...)."""

    project_id: str
    figures: Mapping[str, QuotaFigure]

    def get(self, name: str) -> QuotaFigure | None:
        return self.figures.get(name)

    @property
    def cores(self) -> QuotaFigure | None:
        return self.figures.get("cores")

    @property
    def ram_mb(self) -> QuotaFigure | None:
        return self.figures.get("ram")

    @property
    def instances(self) -> QuotaFigure | None:
        return self.figures.get("instances")


@dataclass(frozen=True, slots=True)
class FlavorInfo:
    """One flavor of a site's Nova (public or not), with its size."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    is_public: bool = True


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """One block-storage volume as the admin listing shows it."""

    id: str
    name: str
    project_id: str
    size_gb: int
    status: str
    attached_to: tuple[str, ...] = ()  # server ids
    volume_type: str | None = None
    bootable: bool = False
    updated_at: dt.datetime | None = None  # Cinder's last change of it (a detach, say)


@dataclass(frozen=True, slots=True)
class SiteInventory:
    """Everything one full read of a site returned — complete, or not returned at all."""

    site: str
    read_at: dt.datetime  # the site's clock when the read began
    next_since: dt.datetime  # ``changes-since`` for the next incremental read (with overlap)
    hypervisors: tuple[HypervisorInfo, ...]
    services: tuple[ComputeServiceInfo, ...]
    servers: tuple[ServerInfo, ...]
    providers: tuple[ProviderInfo, ...] = ()
    quotas: tuple[QuotaInfo, ...] = ()
    # None when the site has no block-storage service in its catalog (then volumes are not
    # known, rather than known to be none)
    volumes: tuple[VolumeInfo, ...] | None = None
    flavors: tuple[FlavorInfo, ...] = ()
    requests: int = 0  # HTTP requests the read made
    seconds: float = 0.0
    phases: Mapping[str, float] = field(default_factory=dict)  # seconds per part of the read

    def summary(self) -> dict[str, Any]:
        return {"site": self.site, "read_at": self.read_at.isoformat(),
                "next_since": self.next_since.isoformat(),
                "hypervisors": len(self.hypervisors), "services": len(self.services),
                "servers": len(self.servers), "providers": len(self.providers),
                "quotas": len(self.quotas),
                "volumes": None if self.volumes is None else len(self.volumes),
                "flavors": len(self.flavors),
                "requests": self.requests,
                "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


def ssh_endpoint(server: ServerInfo) -> str | None:
    """Where to reach ``server`` over SSH, as ``address`` or ``address:port``: the simulator's
    sandbox (metadata ``sim:ssh``), else its first IPv4 address; None when it has none."""
    sandbox = (server.metadata or {}).get("sim:ssh")
    if sandbox:
        return str(sandbox)[:300]
    for ips in (server.addresses or {}).values():
        for ip in ips:
            if ip.count(".") == 3:
                return ip
    return None
