"""Provisioning tables (revision 0004_provisioning): requests, the reservation ledger, the
servers each request creates, and its progress events; a request's kind, change, phase and
plan, and a retirement's final snapshots (revision 0021_lifecycle)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel

from govcloud.store.tables import utcnow


class ProvisionRequestRow(SQLModel, table=True):
    """A provisioning request and where it is in its lifecycle."""

    __tablename__ = "provision_request"
    __table_args__ = (Index("ix_provision_request_state", "state"),
                      Index("ix_provision_request_department", "department"),
                      Index("ix_provision_request_system", "department", "system"))

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    system: str = Field(max_length=64)
    dr_level: int = 1
    state: str = Field(max_length=16)
    requester: str = Field(max_length=64)
    requester_person: str = Field(max_length=128)  # separation of duties compares persons
    approver: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, sa_type=Text)
    spec_json: str = Field(sa_type=Text)
    placement_json: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    # revision 0021_lifecycle: provision, scale, resize or retire (docs/lifecycle.md)
    kind: str = Field(default="provision", max_length=16,
                      sa_column_kwargs={"server_default": "provision"})
    change_id: str | None = Field(default=None, max_length=64)  # the change it runs under
    phase: str | None = Field(default=None, max_length=32)  # where a lifecycle request is
    not_before: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    plan_json: str | None = Field(default=None, sa_type=Text)  # what a lifecycle request does


class ReservationLedgerRow(SQLModel, table=True):
    """What approved requests hold in a site: ``department`` '*' is the site's total (against
    capacity), any other row one department's share (against its quota). Approvals lock these
    rows before they read them."""

    __tablename__ = "reservation_ledger"

    site: str = Field(primary_key=True, max_length=63)
    department: str = Field(primary_key=True, max_length=64)
    vcpu: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    instances: int = 0


class ReservationRow(SQLModel, table=True):
    """One request's reservation in one site; ``released_at`` once failed, cancelled or done."""

    __tablename__ = "reservation"
    __table_args__ = (Index("ix_reservation_request", "request_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int
    site: str = Field(max_length=63)
    department: str = Field(max_length=64)
    vcpu: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    instances: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    released_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ProvisionServerRow(SQLModel, table=True):
    """A server a request creates (or adopted), by its idempotency key."""

    __tablename__ = "provision_server"

    request_id: int = Field(primary_key=True)
    site: str = Field(primary_key=True, max_length=63)
    ordinal: int = Field(primary_key=True)
    name: str = Field(max_length=255)
    key: str = Field(max_length=128)
    server_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=32)
    error: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class ProvisionEventRow(SQLModel, table=True):
    """A line of a request's progress (what ``request show --follow`` prints)."""

    __tablename__ = "provision_event"
    __table_args__ = (Index("ix_provision_event_request", "request_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    kind: str = Field(max_length=32)
    message: str = Field(sa_type=Text)


class LifecycleSnapshotRow(SQLModel, table=True):
    """A retirement's final snapshot of one server (an image), kept until ``expires_at``;
    ``deleted_at`` once the worker deleted it (revision 0021_lifecycle)."""

    __tablename__ = "lifecycle_snapshot"
    __table_args__ = (Index("ix_lifecycle_snapshot_request", "request_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int
    site: str = Field(max_length=63)
    server_id: str = Field(max_length=64)
    name: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    artifact_id: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    deleted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
