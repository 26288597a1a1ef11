"""``/hosts/...`` (compute hosts, not the legacy hosts of a migration): drains, restores and
the hosts' maintenance marks (docs/hosts.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from govcloud.api.models.common import ApiModel, Time
from govcloud.domain.limits import MAX_ID


class ComputeHostView(ApiModel):
    site: str
    host: str  # the compute service's host (what a drain is given)
    hypervisor: str
    availability_zone: str | None
    state: str  # up | down (as last synced)
    status: str  # enabled | disabled (as last synced)
    disabled_reason: str | None
    running_servers: int
    maintenance: bool  # counted in no capacity or what-if figure while true
    maintenance_since: Time | None
    last_drain: int | None
    last_drain_state: str | None


class ComputeHosts(ApiModel):
    hosts: list[ComputeHostView]
    data_as_of: dict[str, Time | None]


class DrainServer(ApiModel):
    id: str
    name: str
    project_id: str
    department: str | None
    status: str  # pending, moving, moved, left, gone
    kind: str  # live | cold
    target: str | None
    reason: str | None  # why it was left (Nova's own words when Nova refused)


class DrainEvent(ApiModel):
    id: int
    at: Time | None
    kind: str
    message: str


class DrainCounts(ApiModel):
    total: int
    moved: int
    left: int
    pending: int
    moving: int
    gone: int


class Drain(ApiModel):
    id: int
    site: str
    host: str
    state: str  # running, done, partial, failed, interrupted
    running: bool  # a run holds it now
    requester: str
    change: int | None  # the change it ran under (docs/changes.md)
    departments: list[str]  # whose servers were on the host
    created_at: Time | None
    started_at: Time | None
    finished_at: Time | None
    error: str | None
    counts: DrainCounts | None = None
    servers: list[DrainServer] | None = None
    events: list[DrainEvent] | None = None  # those after ?after_event=


class DrainStarted(ApiModel):
    drain: int
    site: str
    host: str
    run_id: str
    resumed: bool  # an unfinished drain of this host was taken up again
    change: int | None  # the change it ran under (docs/changes.md)


class HostRestored(ApiModel):
    site: str
    host: str
    enabled: bool  # nova-compute was disabled and is enabled now
    was_in_maintenance: bool
    drain: int | None  # the drain that had put it in maintenance
    change: int | None  # the change it ran under (docs/changes.md)


class HostChangeBody(BaseModel):
    """The body of a drain or a restore: the change it runs under (required when change
    control is enforced; docs/changes.md)."""

    model_config = ConfigDict(extra="forbid")

    change: int | None = Field(None, ge=1, le=MAX_ID,
                               description="the approved change it runs under")
