"""``/tenants/plan``, ``/tenants/apply`` and ``/departments``."""

from __future__ import annotations

from typing import Any

from govcloud.api.models.common import ApiModel, QuotaUse, ServerCounts


class ProjectCreate(ApiModel):
    code: str
    name: str
    description: str
    tags: list[str]


class ProjectUpdate(ApiModel):
    code: str
    project_id: str | None
    description: str | None
    add_tags: list[str]
    record: str | None


class QuotaChange(ApiModel):
    code: str
    project_id: str | None
    field: str
    current: int | None
    desired: int
    in_use: int


class Drift(ApiModel):
    code: str
    project_id: str
    field: str
    applied: int
    actual: int


class Refusal(ApiModel):
    code: str
    field: str
    desired: int | None
    in_use: int | None
    reason: str


class SitePlan(ApiModel):
    site: str
    create_projects: list[ProjectCreate]
    update_projects: list[ProjectUpdate]
    quota_changes: list[QuotaChange]
    drift: list[Drift]
    refusals: list[Refusal]
    in_sync: int  # how many departments have nothing to do here


class TenancyPlan(ApiModel):
    empty: bool
    refused: bool
    summary: str
    departments: int
    sites: list[SitePlan]
    lines: list[str]


class AppliedChange(ApiModel):
    site: str
    department: str
    action: str
    before: dict[str, Any] | None  # the project or quota as it was: an open mapping
    after: dict[str, Any] | None


class TenancyApplied(ApiModel):
    changed: bool
    summary: str
    per_site: dict[str, dict[str, int]]  # site → action → count
    changes: list[AppliedChange]
    drift: list[Drift]
    change: int | None = None  # the change it ran under (docs/changes.md)


class Contact(ApiModel):
    name: str
    phone: str | None
    email: str | None


class Department(ApiModel):
    code: str
    name_zh: str
    name_en: str
    kind: str
    city: str
    dr_level: int
    quotas: dict[str, dict[str, int]]  # site → quota name → limit
    contacts: list[Contact]


class DepartmentList(ApiModel):
    departments: list[Department]
    count: int


class DepartmentSite(ApiModel):
    site: str
    project_id: str | None
    desired: dict[str, int] | None
    quotas: dict[str, QuotaUse]
    in_sync: bool | None
    servers: ServerCounts
    error: str | None


class DepartmentView(Department):
    sites: list[DepartmentSite]
