"""The control plane's tables. Alembic owns the schema: every change here needs a revision
in ``migrations/versions`` (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Index, MetaData, Text
from sqlmodel import Field, SQLModel

# Stable constraint names on every backend, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class SiteRow(SQLModel, table=True):
    """A site (datacentre) govcloud manages."""

    __tablename__ = "site"

    name: str = Field(primary_key=True, max_length=63)
    cloud: str = Field(max_length=255)
    region: str = Field(max_length=255)
    role: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_type=DateTime(timezone=True))


class PrincipalRow(SQLModel, table=True):
    """Someone (or a pipeline) with an API token. Only the token's SHA-256 is kept.

    ``person`` is the human behind it (0009); ``approved_at`` is None while the principal
    waits for a second person's approval (a privileged role), and its token does not work."""

    __tablename__ = "principal"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=32)
    city: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    person: str = Field(max_length=128)
    issued_by: str | None = Field(default=None, max_length=64)
    issued_by_person: str | None = Field(default=None, max_length=128)
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntryRow(SQLModel, table=True):
    """One entry of the hash-chained audit log (see govcloud.domain.audit)."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    target: str = Field(max_length=255, index=True)
    before_json: str | None = Field(default=None, sa_type=Text)
    after_json: str | None = Field(default=None, sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # HMAC of hash with the audit key, kept outside the database (0010_audit_mac)
    mac: str | None = Field(default=None, max_length=64)


# --- inventory (migration 0003_inventory): what the sync worker last read from each site -------

class SiteSyncRow(SQLModel, table=True):
    """Freshness of one site's inventory: the last attempt, the last success, and why the
    last attempt failed (``stale``) — the site's rows are kept as they were when it fails."""

    __tablename__ = "site_sync"

    site: str = Field(primary_key=True, max_length=63)
    last_attempt: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_success: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_full: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    duration_s: float | None = None
    error: str | None = Field(default=None, sa_type=Text)
    stale: bool = False
    watermark: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    servers: int = 0
    hypervisors: int = 0


class HypervisorRow(SQLModel, table=True):
    """A compute host with its Placement figures per resource class."""

    __tablename__ = "hypervisor"

    site: str = Field(primary_key=True, max_length=63)
    id: str = Field(primary_key=True, max_length=64)
    hostname: str = Field(max_length=255)
    state: str = Field(max_length=16)
    status: str = Field(max_length=16)
    availability_zone: str | None = Field(default=None, max_length=255)
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    provider_uuid: str | None = Field(default=None, max_length=64)
    provider_generation: int | None = None
    running_servers: int = 0
    vcpu_total: int = 0
    vcpu_reserved: int = 0
    vcpu_ratio: float = 1.0
    vcpu_max_unit: int | None = None
    vcpu_used: int = 0
    ram_total: int = 0
    ram_reserved: int = 0
    ram_ratio: float = 1.0
    ram_max_unit: int | None = None
    ram_used: int = 0
    disk_total: int = 0
    disk_reserved: int = 0
    disk_ratio: float = 1.0
    disk_max_unit: int | None = None
    disk_used: int = 0


class ComputeServiceRow(SQLModel, table=True):
    """A Nova service on a host (nova-compute, nova-scheduler, ...)."""

    __tablename__ = "compute_service"

    site: str = Field(primary_key=True, max_length=63)
    id: str = Field(primary_key=True, max_length=64)
    binary: str = Field(max_length=64)
    host: str = Field(max_length=255)
    zone: str | None = Field(default=None, max_length=255)
    state: str = Field(max_length=16)
    status: str = Field(max_length=16)
    forced_down: bool = False
    disabled_reason: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ServerRow(SQLModel, table=True):
    """A server in a site; ``deleted_at`` is set (a tombstone) once it is gone."""

    __tablename__ = "server"
    __table_args__ = (
        Index("ix_server_site_department_status", "site", "department", "status"),
        Index("ix_server_department_status", "department", "status"),
        # one department's listing, on a site or on all, in (site, id) order
        # (services.server_listing; migration 0030)
        Index("ix_server_department_site_id", "department", "site", "id"),
    )

    site: str = Field(primary_key=True, max_length=63)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    project_id: str = Field(max_length=64)
    department: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=32)
    flavor_name: str | None = Field(default=None, max_length=255)
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    boot_from_volume: bool = False
    host: str | None = Field(default=None, max_length=255)
    availability_zone: str | None = Field(default=None, max_length=255)
    created: datetime = Field(sa_type=DateTime(timezone=True))
    updated: datetime = Field(sa_type=DateTime(timezone=True))
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # the transaction that last changed it (``tables_retention.ServerChangeRow``; 0025):
    # ``GET /servers?changed_since=`` lists the rows stamped after a client's cursor
    change_seq: int | None = Field(default=None, sa_type=BigInteger, index=True)
    # where SSH reaches it (``address`` or ``address:port``), for the dynamic inventory
    ssh_endpoint: str | None = Field(default=None, max_length=300)
    # since when it has had ``status`` (revision 0021_lifecycle; the reclaim report)
    status_since: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class QuotaUsageRow(SQLModel, table=True):
    """One compute quota of one department's project in one site, with its usage."""

    __tablename__ = "quota_usage"

    site: str = Field(primary_key=True, max_length=63)
    project_id: str = Field(primary_key=True, max_length=64)
    resource: str = Field(primary_key=True, max_length=64)
    department: str | None = Field(default=None, max_length=64, index=True)
    limit: int = 0
    in_use: int = 0


class CapacitySampleRow(SQLModel, table=True):
    """A site's allocated and capacity figures at one sync: the history for the forecast."""

    __tablename__ = "capacity_sample"
    __table_args__ = (Index("ix_capacity_sample_site_at", "site", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str = Field(max_length=63)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    vcpu_allocated: int = 0
    vcpu_capacity: int = 0
    ram_allocated: int = 0
    ram_capacity: int = 0
    disk_allocated: int = 0
    disk_capacity: int = 0
    # compute hosts not in maintenance, and of them those whose service was up (revision 0026;
    # None in older samples): the scorecard's compute availability
    hosts_in_service: int | None = None
    hosts_up: int | None = None


class DepartmentSiteRow(SQLModel, table=True):
    """Which project is a department's in a site (from the ``dept:<code>`` tag or the name)."""

    __tablename__ = "department_site"
    __table_args__ = (Index("ix_department_site_site_project", "site", "project_id"),)

    department: str = Field(primary_key=True, max_length=64)
    site: str = Field(primary_key=True, max_length=63)
    project_id: str = Field(max_length=64)
    project_name: str = Field(default="", max_length=255)
    city: str | None = Field(default=None, max_length=64)



class VolumeRow(SQLModel, table=True):
    """A block-storage volume in a site, as of the last full sync (a site without Cinder has
    none: its volumes are unknown, not zero)."""

    __tablename__ = "volume"
    __table_args__ = (Index("ix_volume_site_department", "site", "department"),)

    site: str = Field(primary_key=True, max_length=63)
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=255)
    project_id: str = Field(max_length=64)
    department: str | None = Field(default=None, max_length=64)
    size_gb: int = 0
    status: str = Field(max_length=32)
    volume_type: str | None = Field(default=None, max_length=255)
    bootable: bool = False
    attached_to: str = Field(default="", max_length=1024)  # server ids, comma-separated
    # since when it has been attached to nothing (revision 0021_lifecycle; reclaim report)
    detached_since: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class FlavorRow(SQLModel, table=True):
    """A flavor of a site's Nova as of the last full sync (public and private ones)."""

    __tablename__ = "flavor"
    __table_args__ = (Index("ix_flavor_name", "name"),)

    site: str = Field(primary_key=True, max_length=63)
    id: str = Field(primary_key=True, max_length=255)
    name: str = Field(max_length=255)
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    ephemeral_gb: int = 0
    swap_mb: int = 0
    is_public: bool = True

# Tables of later capabilities live in their own modules (one per capability, so parallel work
# does not collide here); importing them registers them on ``metadata`` for Alembic. They
# import ``utcnow`` from here, so they are imported last.
from govcloud.store import (  # noqa: E402
    tables_alerts,  # issue 20, revision 0027_alert_history
    tables_changes,  # issue 21, revision 0018_changes
    tables_drill,  # issue 19, revision 0014_drills
    tables_failover,  # issue 19, revision 0016_failover
    tables_health,  # issue 7, revision 0005_health
    tables_hosts,  # issue 21, revision 0019_host_maintenance
    tables_installation,  # issue 23, revision 0024_installation
    tables_metering,  # issue 20, revision 0015_metering
    tables_migration,  # issue 6, revision 0006_migration
    tables_notify,  # issue 21, revision 0020_notifications
    tables_protection,  # issue 19, revision 0012_protection
    tables_provisioning,  # issue 5, revision 0004_provisioning
    tables_replicas,  # issue 22, revision 0022_leases
    tables_retention,  # issue 23, revision 0025_retention
)

TABLE_MODULES = (tables_provisioning, tables_health, tables_migration, tables_protection,
                 tables_drill, tables_metering, tables_failover, tables_notify,
                 tables_hosts, tables_changes, tables_retention, tables_replicas,
                 tables_installation, tables_alerts)
