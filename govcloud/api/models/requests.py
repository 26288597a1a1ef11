"""``/requests`` and ``/provisioning/policy``."""

from __future__ import annotations

from typing import Any

from govcloud.api.models.common import ApiModel, Time


class ProvisionRequest(ApiModel):
    id: int
    department: str
    system: str
    dr_level: int
    state: str
    requester: str
    approver: str | None
    reason: str | None
    error: str | None
    spec: dict[str, Any]  # the request as submitted and parsed (docs/provisioning.md)
    placement: dict[str, Any] | None  # the placement chosen at approval
    created_at: Time | None
    updated_at: Time | None
    # provision, or a system's scale, resize or retire (docs/lifecycle.md)
    kind: str = "provision"
    change: str | None = None  # the change the request runs under
    # a lifecycle request's phase, when the worker takes it up next, and its plan
    phase: str | None = None
    not_before: Time | None = None
    plan: dict[str, Any] | None = None


class Submitted(ProvisionRequest):
    unchanged: bool | None = None  # true: the same request was live already (200)


class RequestServer(ApiModel):
    site: str
    ordinal: int
    name: str
    key: str
    server_id: str | None
    status: str
    error: str | None


class RequestEvent(ApiModel):
    id: int
    at: Time | None
    kind: str
    message: str


class RequestDetail(ProvisionRequest):
    servers: list[RequestServer]
    events: list[RequestEvent]


class RequestList(ApiModel):
    requests: list[ProvisionRequest]
    count: int


class PolicyCopy(ApiModel):
    site_role: str
    kind: str


class DrRule(ApiModel):
    levels: list[int]  # [min_level, max_level]
    copies: list[PolicyCopy]


class AutoApprove(ApiModel):
    max_vcpu: int
    per_month: int
    approver: str


class ProvisioningPolicy(ApiModel):
    dr_policy: list[DrRule]
    auto_approve: dict[str, AutoApprove]  # department → policy
    group_policy: str
