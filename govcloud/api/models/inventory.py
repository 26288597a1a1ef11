"""``/sync``, ``/sync/status``, ``/capacity``, ``/servers``, ``/status`` and the console's
reads (``/hypervisors``, ``/servers/{site}/{id}``, ``/usage``)."""

from __future__ import annotations

from govcloud.api.models.common import (
    ApiModel,
    Figure,
    Number,
    QuotaUse,
    Resources,
    ServerCounts,
    Time,
)

# --- sync ---------------------------------------------------------------------------------


class SiteSyncResult(ApiModel):
    site: str
    full: bool
    ok: bool
    stale: bool
    at: Time
    seconds: Number
    api_s: Number
    db_s: Number
    servers: int
    changed: int
    deleted: int
    hypervisors: int
    requests: int
    error: str | None
    phases: dict[str, Number]  # phase → seconds


class SyncAnswer(ApiModel):
    ok: bool
    full: bool
    seconds: Number
    sites: list[SiteSyncResult]
    by: str


class SyncState(ApiModel):
    """A site synced at least once (attempted)."""

    site: str
    last_attempt: Time | None
    last_success: Time | None
    last_full: Time | None
    duration_s: Number | None
    error: str | None
    stale: bool
    servers: int
    hypervisors: int


class NeverSynced(ApiModel):
    """A site with no sync yet."""

    site: str
    last_success: None
    stale: bool
    error: str | None


class SyncStatus(ApiModel):
    sites: list[SyncState | NeverSynced]


# --- capacity -----------------------------------------------------------------------------


class Forecast(ApiModel):
    status: str
    capacity: Number
    samples: int
    days: Number | None
    full_at: Time | None
    growth_per_day: Number | None
    message: str


class Committed(ApiModel):
    vcpu: int
    ram_mb: int
    instances: int


class VcpuRam(ApiModel):
    vcpu: int
    ram_mb: int


class CommitmentRatio(ApiModel):
    vcpu: Number | None
    ram: Number | None
    physical_cores: Number | None


class QuotaCommitment(ApiModel):
    site: str
    projects: int
    committed: Committed
    in_use: VcpuRam
    capacity: VcpuRam
    physical_cores: int
    ratio: CommitmentRatio
    overcommitted: bool
    unlimited: list[str]


class Zone(ApiModel):
    zone: str | None
    hypervisors: int
    hypervisors_up: int
    vcpus: Figure
    ram_mb: Figure
    disk_gb: Figure


class CapacitySite(ApiModel):
    site: str
    role: str
    hypervisors: int
    hypervisors_up: int
    physical_cores: int
    services_down: int
    vcpus: Figure
    ram_mb: Figure
    disk_gb: Figure
    data_as_of: Time | None
    stale: bool
    error: str | None
    forecast_vcpus: Forecast
    quota_commitment: QuotaCommitment
    zones: list[Zone]


class FlavorFit(ApiModel):
    site: str
    zone: str | None
    flavor: str
    request: Resources
    count: int
    hosts_considered: int
    hosts_with_room: int
    limited_by: str | None
    by_resource: dict[str, int]  # resource class → count if only it mattered
    aggregate_count: int


class LoadFirst(ApiModel):
    """A department's load: its servers, then the resources they hold."""

    servers: int
    vcpu: int
    ram_mb: int
    disk_gb: int


class Receiving(ApiModel):
    site: str
    fits: bool
    free: Resources
    incoming: Resources
    shortfall: Resources
    departments: list[str]


class Move(ApiModel):
    department: str
    dr_level: int
    source: str
    target: str
    load: LoadFirst
    standby: Resources
    need: Resources


class Stranded(ApiModel):
    department: str
    dr_level: int | None
    load: LoadFirst
    reason: str


class WhatIf(ApiModel):
    lost_site: str
    fits: bool
    lost_load: LoadFirst
    receiving: list[Receiving]
    moves: list[Move]
    not_protected: list[Stranded]
    copies_lost: list[Stranded]
    stale_sites: list[str]


class Capacity(ApiModel):
    sites: list[CapacitySite]
    flavor_fit: list[FlavorFit] | None = None  # with ?flavor=
    flavor_fits: dict[str, list[FlavorFit]] | None = None  # with ?fit= (flavor → per site)
    what_if: WhatIf | None = None  # with ?what_if_lose=


# --- servers ------------------------------------------------------------------------------


class Server(ApiModel):
    site: str
    id: str
    name: str | None
    project_id: str | None
    department: str | None
    status: str | None
    flavor: str | None
    vcpus: int | None
    ram_mb: int | None
    disk_gb: int | None
    host: str | None
    availability_zone: str | None
    created: Time | None
    updated: Time | None


class ServerGone(ApiModel):
    """A server deleted (or moved out of the listing's scope) since ``changed_since``."""

    site: str
    id: str


class ServerPage(ApiModel):
    """One page of servers. ``full``: this listing is every server (no ``changed_since``,
    or one that is unknown or too old: replace what you hold); otherwise only the servers
    changed since it, and ``deleted`` the ones gone. ``changes_cursor``: pass it as
    ``changed_since`` next time (the first page's, when you page)."""

    servers: list[Server]
    deleted: list[ServerGone]
    next_cursor: str | None
    changes_cursor: str
    full: bool
    data_as_of: dict[str, Time | None]  # site → last successful sync


class ServerDetail(Server):
    """One server: the stored row, and what its site answered live (None when it did not:
    ``live_error`` says why)."""

    ephemeral_gb: int | None
    swap_mb: int | None
    boot_from_volume: bool
    addresses: dict[str, list[str]] | None  # network → IP addresses
    metadata: dict[str, str] | None
    tags: list[str] | None
    live_error: str | None


class Hypervisor(ApiModel):
    site: str
    id: str
    hostname: str
    state: str
    status: str
    availability_zone: str | None
    disabled_reason: str | None
    running_servers: int
    vcpus: Figure
    ram_mb: Figure
    disk_gb: Figure
    maintenance: bool = False  # in maintenance: counted in no site total (docs/hosts.md)


class Hypervisors(ApiModel):
    hypervisors: list[Hypervisor]
    services_down: dict[str, int]  # site → compute services down
    data_as_of: dict[str, Time | None]


class HostServers(ApiModel):
    site: str
    host: str
    servers: list[Server]


class UsageEntry(ApiModel):
    quotas: dict[str, QuotaUse]  # resource → limit and use
    servers: int
    last_change: Time | None


class Usage(ApiModel):
    departments: dict[str, dict[str, UsageEntry]]  # department → site → usage


# --- status -------------------------------------------------------------------------------


class HostCounts(ApiModel):
    total: int
    up: int
    schedulable: int


class VolumeTotals(ApiModel):
    count: int
    gb: int


class StatusSite(ApiModel):
    site: str
    role: str
    health: str
    stale: bool
    data_as_of: Time | None
    age_s: Number | None
    last_attempt: Time | None
    last_full: Time | None
    duration_s: Number | None
    error: str | None
    servers: ServerCounts
    # for principals who see the whole cloud only:
    hypervisors: HostCounts | None = None
    vcpus: Figure | None = None
    ram_mb: Figure | None = None
    disk_gb: Figure | None = None
    volumes: VolumeTotals | None = None
    probes: str | None = None  # the site's one-word API state, when probed


class TotalFigure(ApiModel):
    capacity: int
    allocated: int
    free: int


class StatusTotals(ApiModel):
    servers: int
    hypervisors: int | None = None
    vcpus: TotalFigure | None = None


class Alert(ApiModel):
    site: str
    severity: str
    message: str


class Status(ApiModel):
    sites: list[StatusSite]
    totals: StatusTotals
    alerts: list[Alert]
    scope: str
    at: Time
