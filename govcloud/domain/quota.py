"""Quota commitments against capacity: what the bureau has promised departments in a site
(the sum of their compute quotas) compared with what the site can hand out and with its
physical cores."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from govcloud.domain.capacity import Resources, SiteCapacity
from govcloud.domain.inventory import QuotaInfo


def _ratio(committed: int, available: int) -> float | None:
    return committed / available if available > 0 else None


@dataclass(frozen=True, slots=True)
class QuotaCommitment:
    """Σ of the projects' quotas in one site next to the site's capacity.

    ``ratio_*`` above 1.0 means the quotas promise more than the site can allocate (an
    overcommitment the bureau may accept, knowing not every department uses its whole quota);
    ``None`` when the site has no capacity of that kind. An unlimited quota cannot be summed:
    it is left out of its sum and its project is listed in ``unlimited``.
    """

    site: str
    projects: int
    committed: Resources  # vcpu = Σ cores quota, ram_mb = Σ ram quota; no disk quota in Nova
    instances: int
    in_use: Resources
    capacity: Resources
    physical_cores: int
    unlimited: tuple[str, ...] = ()

    @property
    def ratio_vcpu(self) -> float | None:
        """Σ cores quota ÷ vCPU capacity (after allocation ratios)."""
        return _ratio(self.committed.vcpu, self.capacity.vcpu)

    @property
    def ratio_ram(self) -> float | None:
        return _ratio(self.committed.ram_mb, self.capacity.ram_mb)

    @property
    def ratio_physical_cores(self) -> float | None:
        """Σ cores quota ÷ physical cores: the overcommit a full quota uptake would mean."""
        return _ratio(self.committed.vcpu, self.physical_cores)

    @property
    def overcommitted(self) -> bool:
        return any(r is not None and r > 1.0 for r in (self.ratio_vcpu, self.ratio_ram))

    def to_dict(self) -> dict[str, Any]:
        def rnd(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"site": self.site, "projects": self.projects,
                "committed": {"vcpu": self.committed.vcpu, "ram_mb": self.committed.ram_mb,
                              "instances": self.instances},
                "in_use": {"vcpu": self.in_use.vcpu, "ram_mb": self.in_use.ram_mb},
                "capacity": {"vcpu": self.capacity.vcpu, "ram_mb": self.capacity.ram_mb},
                "physical_cores": self.physical_cores,
                "ratio": {"vcpu": rnd(self.ratio_vcpu), "ram": rnd(self.ratio_ram),
                          "physical_cores": rnd(self.ratio_physical_cores)},
                "overcommitted": self.overcommitted, "unlimited": list(self.unlimited)}


def quota_commitment(capacity: SiteCapacity, quotas: Iterable[QuotaInfo]) -> QuotaCommitment:
    """Sum the projects' cores/ram/instances quotas for the site ``capacity`` describes.

    Pass the quotas of the departments only (not admin or service projects) to compare what
    the departments were promised.
    """
    cores = ram = instances = used_cores = used_ram = projects = 0
    unlimited: list[str] = []
    for quota in quotas:
        projects += 1
        figures = (quota.cores, quota.ram_mb, quota.instances)
        if any(f is not None and f.unlimited for f in figures):
            unlimited.append(quota.project_id)
        c, r, i = figures
        cores += c.limit if c is not None and not c.unlimited else 0
        ram += r.limit if r is not None and not r.unlimited else 0
        instances += i.limit if i is not None and not i.unlimited else 0
        used_cores += c.in_use if c is not None else 0
        used_ram += r.in_use if r is not None else 0
    return QuotaCommitment(
        site=capacity.site, projects=projects, committed=Resources(cores, ram),
        instances=instances, in_use=Resources(used_cores, used_ram),
        capacity=Resources(capacity.vcpu.capacity, capacity.ram_mb.capacity),
        physical_cores=capacity.physical_cores, unlimited=tuple(sorted(unlimited)))
