"""Capacity math as Placement defines it.

A resource provider's usable capacity of one resource class is
``int((total - reserved) * allocation_ratio)``; a site's capacity is the sum over its providers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

VCPU = "VCPU"
MEMORY_MB = "MEMORY_MB"
DISK_GB = "DISK_GB"


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of one resource provider, as Placement reports it."""

    resource_class: str
    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0

    @property
    def capacity(self) -> int:
        """What the scheduler may hand out: (total − reserved) × allocation_ratio, floored."""
        return max(0, int((self.total - self.reserved) * self.allocation_ratio))


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
