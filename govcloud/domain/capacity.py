"""Capacity math as Placement defines it (docs/capacity.md has every formula).

A resource provider's usable capacity of one resource class is
``int((total - reserved) * allocation_ratio)``; a site's capacity is the sum over its providers.
How many more of a flavor fit is counted host by host (a flavor never spans hosts), honouring
Placement's ``min_unit``/``max_unit``/``step_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from govcloud.errors import InvalidInput

VCPU = "VCPU"
MEMORY_MB = "MEMORY_MB"
DISK_GB = "DISK_GB"
RESOURCE_CLASSES = (VCPU, MEMORY_MB, DISK_GB)


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of one resource provider, as Placement reports it."""

    resource_class: str
    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    max_unit: int | None = None  # the largest single allocation; None: as large as ``total``
    min_unit: int = 1
    step_size: int = 1

    @property
    def capacity(self) -> int:
        """What the scheduler may hand out: (total − reserved) × allocation_ratio, floored."""
        return max(0, int((self.total - self.reserved) * self.allocation_ratio))

    def free(self, used: int) -> int:
        """Capacity not yet allocated; never negative (an over-allocated host has none)."""
        return max(0, self.capacity - used)

    def allows(self, amount: int) -> bool:
        """Whether Placement accepts one allocation of ``amount`` (unit limits, not room)."""
        largest = self.total if self.max_unit is None else self.max_unit
        step = max(1, self.step_size)
        return self.min_unit <= amount <= largest and amount % step == 0

    def fit_count(self, amount: int, used: int) -> int:
        """How many more allocations of ``amount`` fit, given ``used`` already allocated."""
        if amount <= 0:
            raise ValueError("amount must be positive")
        return self.free(used) // amount if self.allows(amount) else 0


@dataclass(frozen=True, slots=True)
class ResourceFigure:
    """Capacity and use of one resource class, summed over a site."""

    capacity: int = 0
    used: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.used

    @property
    def used_fraction(self) -> float:
        return self.used / self.capacity if self.capacity else 0.0

    def __add__(self, other: ResourceFigure) -> ResourceFigure:
        return ResourceFigure(self.capacity + other.capacity, self.used + other.used)


@dataclass(frozen=True, slots=True)
class ProviderResources:
    """A resource provider's inventories and usages, keyed by resource class."""

    name: str
    inventories: Mapping[str, Inventory] = field(default_factory=dict)
    usages: Mapping[str, int] = field(default_factory=dict)


def total_resources(providers: Iterable[ProviderResources]) -> dict[str, ResourceFigure]:
    """Sum capacity and usage per resource class over the providers.

    Usage of a class the provider has no inventory for still counts as used (Placement would
    never allow it, but a figure must not silently vanish).
    """
    totals: dict[str, ResourceFigure] = {}
    for provider in providers:
        classes = set(provider.inventories) | set(provider.usages)
        for rc in classes:
            inv = provider.inventories.get(rc)
            figure = ResourceFigure(inv.capacity if inv else 0, provider.usages.get(rc, 0))
            totals[rc] = totals.get(rc, ResourceFigure()) + figure
    return totals


# --- resource vectors and flavors ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Resources:
    """An amount of the three resources a server takes: vCPU, RAM (MiB) and local disk (GiB).

    Arithmetic is per resource; a difference may be negative until :meth:`clipped`.
    """

    vcpu: int = 0
    ram_mb: int = 0
    disk_gb: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.vcpu + other.vcpu, self.ram_mb + other.ram_mb,
                         self.disk_gb + other.disk_gb)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.vcpu - other.vcpu, self.ram_mb - other.ram_mb,
                         self.disk_gb - other.disk_gb)

    def clipped(self) -> Resources:
        """Each resource floored at zero."""
        return Resources(max(0, self.vcpu), max(0, self.ram_mb), max(0, self.disk_gb))

    def shortfall(self, available: Resources) -> Resources:
        """What is missing when this much is needed and ``available`` is there."""
        return (self - available).clipped()

    @property
    def is_zero(self) -> bool:
        return self.vcpu == 0 and self.ram_mb == 0 and self.disk_gb == 0

    def by_class(self) -> dict[str, int]:
        """As Placement resource classes, leaving out zero amounts."""
        amounts = {VCPU: self.vcpu, MEMORY_MB: self.ram_mb, DISK_GB: self.disk_gb}
        return {rc: n for rc, n in amounts.items() if n}

    @classmethod
    def from_classes(cls, amounts: Mapping[str, int]) -> Resources:
        return cls(int(amounts.get(VCPU, 0)), int(amounts.get(MEMORY_MB, 0)),
                   int(amounts.get(DISK_GB, 0)))

    def to_dict(self) -> dict[str, int]:
        return {"vcpu": self.vcpu, "ram_mb": self.ram_mb, "disk_gb": self.disk_gb}


def flavor_request(*, vcpus: int, ram_mb: int, disk_gb: int = 0, ephemeral_gb: int = 0,
                   swap_mb: int = 0, boot_from_volume: bool = False) -> Resources:
    """What Nova asks Placement for one server of a flavor.

    DISK_GB = root disk + ephemeral + swap rounded up to GiB; the root disk is left out when the
    server boots from a volume (it lives in the block storage service, not on the host).
    """
    root = 0 if boot_from_volume else disk_gb
    return Resources(vcpus, ram_mb, root + ephemeral_gb + math.ceil(swap_mb / 1024))


@dataclass(frozen=True, slots=True)
class FlavorSpec:
    """A flavor's size, as far as capacity is concerned."""

    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0

    def __post_init__(self) -> None:
        if self.vcpus < 1 or self.ram_mb < 1:
            raise InvalidInput(f"flavor {self.name}: vcpus and ram_mb must be at least 1")
        if min(self.disk_gb, self.ephemeral_gb, self.swap_mb) < 0:
            raise InvalidInput(f"flavor {self.name}: disk, ephemeral and swap must not be "
                               "negative")

    def request(self, *, boot_from_volume: bool = False) -> Resources:
        return flavor_request(vcpus=self.vcpus, ram_mb=self.ram_mb, disk_gb=self.disk_gb,
                              ephemeral_gb=self.ephemeral_gb, swap_mb=self.swap_mb,
                              boot_from_volume=boot_from_volume)


# --- hosts and per-site capacity -------------------------------------------------------------

class Host(Protocol):
    """What capacity math needs of a compute host (``HypervisorInfo`` is one)."""

    @property
    def hostname(self) -> str: ...

    @property
    def availability_zone(self) -> str | None: ...

    @property
    def up(self) -> bool: ...

    @property
    def schedulable(self) -> bool: ...

    @property
    def inventories(self) -> Mapping[str, Inventory]: ...

    @property
    def usages(self) -> Mapping[str, int]: ...


@dataclass(frozen=True, slots=True)
class CapacityFigure:
    """One resource class summed over a set of hosts.

    ``total``/``reserved`` are physical units as Placement reports them; ``capacity`` is
    Σ (total − reserved) × ratio; ``allocated`` is Σ Placement usage; ``free`` is
    Σ max(0, capacity − allocated) per host; ``headroom`` is ``free`` on hosts that are up and
    enabled (where the scheduler can actually place something).
    """

    total: int = 0
    reserved: int = 0
    capacity: int = 0
    allocated: int = 0
    free: int = 0
    headroom: int = 0

    @property
    def allocated_fraction(self) -> float:
        return self.allocated / self.capacity if self.capacity else 0.0

    def __add__(self, other: CapacityFigure) -> CapacityFigure:
        return CapacityFigure(self.total + other.total, self.reserved + other.reserved,
                              self.capacity + other.capacity, self.allocated + other.allocated,
                              self.free + other.free, self.headroom + other.headroom)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reserved": self.reserved, "capacity": self.capacity,
                "allocated": self.allocated, "free": self.free, "headroom": self.headroom,
                "allocated_fraction": round(self.allocated_fraction, 4)}


def host_figure(host: Host, resource_class: str) -> CapacityFigure:
    """One host's figure for one resource class (all zero when it has no such inventory)."""
    used = int(host.usages.get(resource_class, 0))
    inv = host.inventories.get(resource_class)
    if inv is None:
        return CapacityFigure(allocated=used)
    free = inv.free(used)
    return CapacityFigure(total=inv.total, reserved=inv.reserved, capacity=inv.capacity,
                          allocated=used, free=free, headroom=free if host.schedulable else 0)


@dataclass(frozen=True, slots=True)
class SiteCapacity:
    """Capacity of a site, or of one availability zone of it (``zone`` set)."""

    site: str
    zone: str | None
    hosts: int
    hosts_up: int
    hosts_schedulable: int
    vcpu: CapacityFigure
    ram_mb: CapacityFigure
    disk_gb: CapacityFigure

    @property
    def physical_cores(self) -> int:
        """Σ VCPU inventory totals: Nova reports one VCPU per host CPU (core or thread)."""
        return self.vcpu.total

    @property
    def capacity(self) -> Resources:
        return Resources(self.vcpu.capacity, self.ram_mb.capacity, self.disk_gb.capacity)

    @property
    def allocated(self) -> Resources:
        return Resources(self.vcpu.allocated, self.ram_mb.allocated, self.disk_gb.allocated)

    @property
    def free(self) -> Resources:
        return Resources(self.vcpu.free, self.ram_mb.free, self.disk_gb.free)

    @property
    def headroom(self) -> Resources:
        return Resources(self.vcpu.headroom, self.ram_mb.headroom, self.disk_gb.headroom)

    def figure(self, resource_class: str) -> CapacityFigure:
        figures = {VCPU: self.vcpu, MEMORY_MB: self.ram_mb, DISK_GB: self.disk_gb}
        if resource_class not in figures:
            raise InvalidInput(f"unknown resource class {resource_class!r}",
                               hint=f"use one of {', '.join(RESOURCE_CLASSES)}")
        return figures[resource_class]

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "zone": self.zone,
                "hosts": {"total": self.hosts, "up": self.hosts_up,
                          "schedulable": self.hosts_schedulable},
                "physical_cores": self.physical_cores,
                "vcpu": self.vcpu.to_dict(), "ram_mb": self.ram_mb.to_dict(),
                "disk_gb": self.disk_gb.to_dict()}


def site_capacity(site: str, hosts: Iterable[Host], *, zone: str | None = None) -> SiteCapacity:
    """Sum capacity over a site's hosts (only those in ``zone`` when it is given).

    Hosts that are down or disabled still count in ``total``/``capacity``/``allocated``/``free``
    (the hardware is there and so is its load) but add nothing to ``headroom``.
    """
    chosen = hosts if zone is None else (h for h in hosts if h.availability_zone == zone)
    return _summed(site, zone, chosen)


def capacity_by_zone(site: str, hosts: Iterable[Host]) -> dict[str, SiteCapacity]:
    """Capacity per availability zone, by zone name; hosts without one are under ``""``."""
    by_zone: dict[str, list[Host]] = {}
    for host in hosts:
        by_zone.setdefault(host.availability_zone or "", []).append(host)
    return {zone: _summed(site, zone, members) for zone, members in sorted(by_zone.items())}


def _summed(site: str, zone: str | None, hosts: Iterable[Host]) -> SiteCapacity:
    count = up = schedulable = 0
    sums = {rc: CapacityFigure() for rc in RESOURCE_CLASSES}
    for host in hosts:
        count += 1
        up += host.up
        schedulable += host.schedulable
        for rc in RESOURCE_CLASSES:
            sums[rc] = sums[rc] + host_figure(host, rc)
    return SiteCapacity(site=site, zone=zone, hosts=count, hosts_up=up,
                        hosts_schedulable=schedulable, vcpu=sums[VCPU],
                        ram_mb=sums[MEMORY_MB], disk_gb=sums[DISK_GB])


# --- how many more of a flavor fit -----------------------------------------------------------

def host_fit(host: Host, request: Resources) -> int:
    """How many more servers asking ``request`` fit on ``host`` (0 unless up and enabled).

    min over the requested resource classes of floor(free / need), where a class the host has
    no inventory for, or a need outside the inventory's min_unit..max_unit or not a multiple
    of its step_size, allows none.
    """
    if not host.schedulable:
        return 0
    needs = request.by_class()
    if not needs:
        raise InvalidInput("a flavor must ask for some resources")
    fits: int | None = None
    for rc, need in needs.items():
        inv = host.inventories.get(rc)
        n = 0 if inv is None else inv.fit_count(need, int(host.usages.get(rc, 0)))
        fits = n if fits is None else min(fits, n)
        if fits == 0:
            return 0
    return fits or 0


@dataclass(frozen=True, slots=True)
class FlavorFit:
    """How many more of one flavor a site (or zone) can take right now."""

    site: str
    zone: str | None
    flavor: FlavorSpec
    request: Resources
    count: int  # Σ over up+enabled hosts of host_fit — the answer
    hosts_considered: int
    hosts_with_room: int
    by_resource: Mapping[str, int]  # the same count if only that class mattered
    aggregate_count: int  # min over classes of floor(Σ headroom / need): an upper bound

    @property
    def limited_by(self) -> str | None:
        """The resource class that runs out first (the smallest per-resource count)."""
        if not self.by_resource:
            return None
        return min(self.by_resource, key=lambda rc: (self.by_resource[rc], rc))

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "zone": self.zone, "flavor": self.flavor.name,
                "request": self.request.to_dict(), "count": self.count,
                "hosts_considered": self.hosts_considered,
                "hosts_with_room": self.hosts_with_room, "limited_by": self.limited_by,
                "by_resource": dict(self.by_resource), "aggregate_count": self.aggregate_count}


def flavor_fit(site: str, hosts: Iterable[Host], flavor: FlavorSpec, *,
               zone: str | None = None, boot_from_volume: bool = False) -> FlavorFit:
    """Count how many more servers of ``flavor`` fit, host by host.

    Dividing a site's total free RAM by the flavor's RAM overstates the answer: free capacity
    is scattered over hosts and a server cannot span two. This sums, over the hosts that are
    up and enabled (in ``zone`` if given), each host's own count.
    """
    request = flavor.request(boot_from_volume=boot_from_volume)
    needs = request.by_class()
    count = considered = with_room = 0
    per_class = dict.fromkeys(needs, 0)
    headroom = dict.fromkeys(needs, 0)
    for host in hosts:
        if zone is not None and host.availability_zone != zone:
            continue
        if not host.schedulable:
            continue
        considered += 1
        n = host_fit(host, request)
        count += n
        with_room += n > 0
        for rc, need in needs.items():
            inv = host.inventories.get(rc)
            used = int(host.usages.get(rc, 0))
            if inv is not None:
                per_class[rc] += inv.fit_count(need, used)
                headroom[rc] += inv.free(used)
    aggregate = min(headroom[rc] // need for rc, need in needs.items())
    return FlavorFit(site=site, zone=zone, flavor=flavor, request=request, count=count,
                     hosts_considered=considered, hosts_with_room=with_room,
                     by_resource=per_class, aggregate_count=aggregate)
