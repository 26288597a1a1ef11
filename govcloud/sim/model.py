"""Plain records the simulator keeps in memory. No behaviour here beyond small helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(t: dt.datetime | None) -> str | None:
    """Nova's timestamp format: 2026-11-28T02:56:35Z."""
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_us(t: dt.datetime | None) -> str | None:
    """Keystone/Neutron style with microseconds: 2026-11-28T02:56:35.000000Z."""
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- identity (shared by every region) ------------------------------------------------------

@dataclass
class Domain:
    id: str
    name: str
    description: str = ""
    enabled: bool = True
    tags: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Project:
    id: str
    name: str
    domain_id: str
    description: str = ""
    enabled: bool = True
    is_domain: bool = False
    parent_id: str | None = None
    tags: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class User:
    id: str
    name: str
    domain_id: str
    password: str = ""
    enabled: bool = True
    email: str | None = None
    description: str | None = None
    default_project_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Group:
    id: str
    name: str
    domain_id: str
    description: str = ""
    members: set[str] = field(default_factory=set)


@dataclass
class Role:
    id: str
    name: str
    domain_id: str | None = None
    description: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assignment:
    role_id: str
    user_id: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: str | None = None  # "all"
    inherited: bool = False


@dataclass
class CatalogService:
    id: str
    type: str
    name: str
    enabled: bool = True
    description: str = ""


@dataclass
class Endpoint:
    id: str
    service_id: str
    interface: str
    region_id: str | None
    url: str
    enabled: bool = True


@dataclass
class KRegion:
    id: str
    description: str = ""
    parent_region_id: str | None = None


@dataclass
class Token:
    id: str
    user_id: str
    methods: list[str]
    issued_at: dt.datetime
    expires_at: dt.datetime
    audit_id: str
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    role_ids: list[str] = field(default_factory=list)

    @property
    def scope(self) -> str:
        if self.system:
            return "system"
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        return "unscoped"


@dataclass
class AuthContext:
    """What a service sees of the caller, from a validated token."""

    token: Token
    user: User
    roles: list[str]  # role names
    project_id: str | None
    system: bool

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def user_id(self) -> str:
        return self.user.id


# --- compute, placement, image, network, volume (one set per region) -------------------------

@dataclass
class Flavor:
    id: str
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # GiB
    ephemeral: int = 0
    swap: int = 0
    rxtx_factor: float = 1.0
    is_public: bool = True
    disabled: bool = False
    description: str | None = None
    extra_specs: dict[str, str] = field(default_factory=dict)
    access: set[str] = field(default_factory=set)  # project ids for private flavors


@dataclass
class Image:
    id: str
    name: str
    status: str = "active"
    disk_format: str = "qcow2"
    container_format: str = "bare"
    size: int = 0
    min_disk: int = 0
    min_ram: int = 0
    visibility: str = "public"
    owner: str | None = None
    protected: bool = False
    os_distro: str | None = None
    checksum: str | None = None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    properties: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass
class Inventory:
    total: int
    reserved: int = 0
    min_unit: int = 1
    max_unit: int = 0  # 0 → total
    step_size: int = 1
    allocation_ratio: float = 1.0

    def capacity(self) -> int:
        """What placement lets be allocated: (total − reserved) × ratio."""
        return int((self.total - self.reserved) * self.allocation_ratio)


@dataclass
class ResourceProvider:
    uuid: str
    name: str
    generation: int = 0
    parent_provider_uuid: str | None = None
    root_provider_uuid: str | None = None
    inventories: dict[str, Inventory] = field(default_factory=dict)
    used: dict[str, int] = field(default_factory=dict)  # resource class → amount allocated
    traits: set[str] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)


@dataclass
class Consumer:
    """A placement consumer (a server): its allocations against providers."""

    uuid: str
    project_id: str
    user_id: str
    allocations: dict[str, dict[str, int]] = field(default_factory=dict)  # rp → rc → amount
    generation: int = 0
    # Nova never names a type (its servers and migrations are "unknown" to Placement 1.38+);
    # only clients that PUT allocations with one set it
    consumer_type: str = ""


@dataclass
class ComputeService:
    id: str
    binary: str
    host: str
    zone: str
    state: str = "up"  # up | down (heartbeat)
    status: str = "enabled"  # enabled | disabled
    forced_down: bool = False
    disabled_reason: str | None = None
    updated_at: dt.datetime = field(default_factory=now)

    @property
    def is_up(self) -> bool:
        return self.state == "up" and not self.forced_down


@dataclass
class Hypervisor:
    id: str  # uuid (2.53+)
    legacy_id: int
    hostname: str
    host_ip: str
    service: ComputeService
    provider: ResourceProvider
    hypervisor_type: str = "fake"
    hypervisor_version: int = 1000
    cpu_model: str = "Intel Xeon Gold 6348"
    uptime: str = " 10:00:00 up 100 days, 1 user, load average: 0.50, 0.40, 0.30"
    servers: set[str] = field(default_factory=set)  # server ids on this host

    @property
    def state(self) -> str:
        return "up" if self.service.is_up else "down"

    @property
    def status(self) -> str:
        return self.service.status


@dataclass
class Network:
    id: str
    name: str
    project_id: str
    shared: bool = False
    external: bool = False
    status: str = "ACTIVE"
    admin_state_up: bool = True
    mtu: int = 1500
    provider_network_type: str = "flat"
    provider_physical_network: str | None = "physnet1"
    subnet_ids: list[str] = field(default_factory=list)
    description: str = ""
    availability_zones: list[str] = field(default_factory=lambda: ["nova"])
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    tags: list[str] = field(default_factory=list)
    revision_number: int = 1


@dataclass
class Subnet:
    id: str
    name: str
    network_id: str
    project_id: str
    cidr: str
    gateway_ip: str | None
    ip_version: int = 4
    enable_dhcp: bool = True
    allocation_start: int = 10  # host index of the first address handed out
    next_host: int = 10
    dns_nameservers: list[str] = field(default_factory=list)
    description: str = ""
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    revision_number: int = 0


@dataclass
class Port:
    id: str
    network_id: str
    project_id: str
    mac_address: str
    fixed_ips: list[dict[str, str]]
    name: str = ""
    device_id: str = ""
    device_owner: str = ""
    status: str = "ACTIVE"
    admin_state_up: bool = True
    binding_host_id: str = ""
    security_groups: list[str] = field(default_factory=list)
    floating_ips: list[str] = field(default_factory=list)  # addresses NAT'd to this port
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    revision_number: int = 1


@dataclass
class Server:
    id: str
    name: str
    project_id: str
    user_id: str
    flavor: Flavor  # a snapshot: later flavor changes do not alter the server
    image_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str = "BUILD"  # BUILD | ACTIVE | SHUTOFF | ERROR | DELETED | REBOOT | HARD_REBOOT
    vm_state: str = "building"
    task_state: str | None = "scheduling"
    power_state: int = 0  # 0 NOSTATE, 1 RUNNING, 4 SHUTDOWN
    host: str | None = None  # hypervisor hostname
    hypervisor_id: str | None = None
    availability_zone: str | None = None
    requested_availability_zone: str | None = None
    key_name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    addresses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    port_ids: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=lambda: ["default"])
    fault: dict[str, Any] | None = None
    server_group_id: str | None = None
    description: str | None = None
    access_ipv4: str = ""
    access_ipv6: str = ""
    config_drive: str = ""
    locked: bool = False
    locked_reason: str | None = None
    launched_at: dt.datetime | None = None
    terminated_at: dt.datetime | None = None
    ready_at: float = 0.0  # monotonic-ish wall time when BUILD turns ACTIVE
    target_status: str = "ACTIVE"  # what BUILD / REBOOT settles to
    deleted: bool = False
    instance_number: int = 0  # for OS-EXT-SRV-ATTR:instance_name
    admin_pass: str | None = None
    hostname: str = ""
    volumes_attached: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0  # creation order, for stable sorting
    # a move in progress or awaiting confirmation (resize, cold/live migration):
    # the Migration's uuid, which is also the Placement consumer holding the source
    migration_uuid: str | None = None
    old_flavor: Flavor | None = None  # the flavor before a resize, until confirmed/reverted
    old_vm_state: str | None = None  # active | stopped: what confirm/revert returns to
    shelved_image_id: str | None = None  # the "<name>-shelved" snapshot, until unshelved
    # the SSH host public keys ("type base64") cloud-init prints to the console at boot: an
    # SSH sandbox's real ones when one backs the server — none when the sandbox gave none (an
    # image without cloud-init); None: no sandbox, a made-up key (console_log.py)
    host_keys: list[str] | None = None


@dataclass
class Migration:
    """Nova's migration record of one move (resize, cold or live migration)."""

    id: int
    uuid: str
    instance_uuid: str
    migration_type: str  # resize | migration | live-migration
    status: str  # pre-migrating → finished → confirmed | reverted; live: ... → completed; error
    source_compute: str
    dest_compute: str | None
    dest_host: str | None
    old_flavor: Flavor
    new_flavor: Flavor
    project_id: str
    user_id: str
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)


@dataclass
class ServerGroup:
    id: str
    name: str
    policy: str  # affinity | anti-affinity | soft-affinity | soft-anti-affinity
    project_id: str
    user_id: str
    rules: dict[str, Any] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)


@dataclass
class Keypair:
    name: str
    user_id: str
    public_key: str
    fingerprint: str
    type: str = "ssh"
    created_at: dt.datetime = field(default_factory=now)
    id: int = 0


@dataclass
class Volume:
    id: str
    name: str | None
    project_id: str
    user_id: str
    size: int
    status: str = "available"
    volume_type: str = "__DEFAULT__"
    availability_zone: str = "nova"
    description: str | None = None
    bootable: bool = False
    image_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    ready_at: float = 0.0
    snapshot_id: str | None = None  # the snapshot it was created from
    source_volid: str | None = None  # the volume it was cloned from
    previous_status: str | None = None  # what a backup or restore returns it to


@dataclass
class Snapshot:
    """A Cinder volume snapshot: ``creating`` → ``available``; ``deleting`` → gone."""

    id: str
    volume_id: str
    project_id: str
    user_id: str
    size: int
    name: str | None = None
    description: str | None = None
    status: str = "creating"
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    ready_at: float = 0.0  # when ``creating`` / ``deleting`` settles


@dataclass
class Backup:
    """A Cinder volume backup: ``creating`` → ``available``; ``restoring`` → ``available``;
    ``deleting`` → gone. ``record`` is what export_record encodes (and import_record read)."""

    id: str
    volume_id: str
    project_id: str
    user_id: str
    size: int
    name: str | None = None
    description: str | None = None
    status: str = "creating"
    availability_zone: str | None = "nova"
    container: str | None = "volumebackups"
    incremental: bool = False
    parent_id: str | None = None
    snapshot_id: str | None = None
    fail_reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    object_count: int = 0
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    data_timestamp: dt.datetime = field(default_factory=now)
    ready_at: float = 0.0
    restore_volume_id: str | None = None  # the volume a restore in progress writes
    # the backed-up volume's properties a restore gives back (bootable, image_id, type)
    source: dict[str, Any] = field(default_factory=dict)
