"""A site at a glance: hypervisors, compute services, capacity and servers by status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govcloud.domain.capacity import ResourceFigure


@dataclass(frozen=True, slots=True)
class SiteSummary:
    site: str
    hypervisors: int
    compute_services_up: int
    compute_services_down: int
    vcpu: ResourceFigure
    ram_mb: ResourceFigure
    disk_gb: ResourceFigure
    servers_by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def servers(self) -> int:
        return sum(self.servers_by_status.values())

    def servers_in(self, status: str) -> int:
        return self.servers_by_status.get(status.upper(), 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (for ``--json`` output and the API)."""

        def fig(f: ResourceFigure) -> dict[str, int]:
            # ``used`` is Placement's usage: "allocated" in GET /capacity's words
            return {"capacity": f.capacity, "allocated": f.used, "free": f.free}

        return {
            "site": self.site,
            "hypervisors": self.hypervisors,
            "compute_services": {"up": self.compute_services_up,
                                 "down": self.compute_services_down},
            "vcpu": fig(self.vcpu),
            "ram_mb": fig(self.ram_mb),
            "disk_gb": fig(self.disk_gb),
            "servers": {"total": self.servers, "by_status": dict(sorted(
                self.servers_by_status.items()))},
        }


def count_statuses(statuses: Iterable[str | None]) -> dict[str, int]:
    """Servers per status, upper-cased as Nova reports them; a missing status is UNKNOWN."""
    return dict(Counter((s or "UNKNOWN").upper() for s in statuses))
