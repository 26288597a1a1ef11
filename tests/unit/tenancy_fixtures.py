"""Builders of the tenancy tests' catalogues and observed clouds: departments (``dept``) with
per-site quotas (``BIG``, ``SMALL``), a catalogue of them, and the cloud such a catalogue was
applied to (``applied_cloud``). Shared by the planning tests (tests/unit/test_tenancy_plan.py)
and the apply service's (tests/unit/services/test_tenancy.py)."""

from __future__ import annotations

from collections.abc import Sequence

from govcloud.domain.catalogue import (
    QUOTA_FIELDS,
    Catalogue,
    Contact,
    Department,
    DepartmentKind,
    SiteQuota,
)
from govcloud.domain.tenancy import (
    MANAGED_TAG,
    ObservedProject,
    ObservedSite,
    QuotaFigure,
    dept_tag,
    record_tag,
)

SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")
KEYSTONE = "https://keystone.example/identity"
BIG = SiteQuota(cores=400, ram_mb=819200, instances=100, volumes=100, gigabytes=20000,
                ports=200, server_groups=20, server_group_members=20)
SMALL = SiteQuota(cores=40, ram_mb=81920, instances=10, volumes=10, gigabytes=2000, ports=20,
                  server_groups=10, server_group_members=10)


def dept(code: str, quotas: dict[str, SiteQuota], zh: str = "广东省测试厅") -> Department:
    return Department(code=code, name_zh=zh, name_en=f"Dept {code}", kind=DepartmentKind.DEPARTMENT,
                      city="guangzhou", dr_level=3, quotas=quotas,
                      contacts=(Contact("王伟", "+86 20 8000 0001", "a@b.example"),))


def catalogue(*departments: Department) -> Catalogue:
    return Catalogue(tuple(sorted(departments, key=lambda d: d.code)))


def figures(quota: SiteQuota, used: dict[str, int] | None = None) -> dict[str, QuotaFigure]:
    used = used or {}
    return {n: QuotaFigure(quota.get(n), used.get(n, 0)) for n in QUOTA_FIELDS}


def project(d: Department, site_limits: dict[str, dict[str, QuotaFigure]], site: str, *,
            records: Sequence[str] | None = None, pid: str | None = None,
            description: str | None = None) -> ObservedProject:
    """The department's project as ``site`` sees it; by default fully applied (tags, records)."""
    if records is None:
        records = [record_tag(s, d.quota(s)) for s in SITES]
    return ObservedProject(id=pid or f"id-{d.code}", name=d.code,
                           description=d.description if description is None else description,
                           tags=(dept_tag(d.code), MANAGED_TAG, *records),
                           quotas=site_limits[site])


def applied_cloud(cat: Catalogue, used: dict[tuple[str, str], dict[str, int]] | None = None,
                  identity: str = KEYSTONE) -> list[ObservedSite]:
    """Observations of a cloud the catalogue was applied to."""
    used = used or {}
    out = []
    for site in SITES:
        projects = {}
        for d in cat:
            limits = {site: figures(d.quota(site), used.get((d.code, site)))}
            projects[d.code] = project(d, limits, site)
        out.append(ObservedSite(site=site, identity=identity, projects=projects))
    return out
