"""``/systems/{department}/{system}`` (a system as it stands) and ``/reports/reclaim`` (what
is paid for but unused), docs/lifecycle.md."""

from __future__ import annotations

from typing import Any

from govcloud.api.models.common import ApiModel, Time


class SystemSite(ApiModel):
    site: str
    kind: str  # primary, standby or cold


class SystemMember(ApiModel):
    site: str
    kind: str
    name: str
    server_id: str
    request: int  # the request that made it (provision or scale)
    ordinal: int
    key: str  # its idempotency key
    flavor: str | None  # as the inventory last saw it
    status: str | None
    host: str | None


class SystemRequestRef(ApiModel):
    id: int
    kind: str
    state: str
    phase: str | None


class SystemDetail(ApiModel):
    department: str
    system: str
    dr_level: int
    request: int  # its provisioning request
    sites: list[SystemSite]
    groups: list[dict[str, Any]]  # its server groups as its shape is now (request format)
    members: list[SystemMember]
    requests: list[SystemRequestRef]


class ReclaimServer(ApiModel):
    site: str
    id: str
    name: str
    status: str
    since: Time | None
    days: float
    flavor: str | None
    vcpus: int
    ram_mb: int
    system: str | None


class ReclaimVolume(ApiModel):
    site: str
    id: str
    name: str
    size_gb: int
    status: str
    since: Time | None
    days: float


class ReclaimDepartment(ApiModel):
    department: str
    servers: list[ReclaimServer]
    volumes: list[ReclaimVolume]
    systems: list[str]  # systems all of whose production members are idle: retire them?
    vcpus: int  # what the idle servers hold
    ram_mb: int
    volume_gb: int  # what the unattached volumes hold
    unknown: int  # idle-looking servers and volumes whose "since" is not known yet


class Reclaim(ApiModel):
    at: Time
    days: float
    departments: list[ReclaimDepartment]
    traffic: str  # why systems with no traffic are not reported (there is no traffic metric)
