"""Host maintenance tables (revision 0019_host_maintenance): a drain as a job (its servers
and its progress events, so a new run resumes a dead one) and the hosts in maintenance,
which capacity and what-if figures leave out (docs/hosts.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel

from govcloud.store.tables import utcnow


class HostDrainRow(SQLModel, table=True):
    """One drain of one compute host: who asked (under which change), the departments whose
    servers it moves, its state and the run that holds it (``run_id`` and its heartbeat)."""

    __tablename__ = "host_drain"
    __table_args__ = (Index("ix_host_drain_site_host", "site", "host"),)

    id: int | None = Field(default=None, primary_key=True)
    site: str = Field(max_length=63)
    host: str = Field(max_length=255)
    state: str = Field(max_length=16)
    requester: str = Field(max_length=64)
    change_id: str | None = Field(default=None, max_length=64)
    departments: str | None = Field(default=None, sa_type=Text)  # JSON list of codes
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    run_id: str | None = Field(default=None, max_length=64)
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    error: str | None = Field(default=None, sa_type=Text)


class HostDrainServerRow(SQLModel, table=True):
    """A server the drain moves: where from and to, how, and what became of it."""

    __tablename__ = "host_drain_server"

    drain_id: int = Field(primary_key=True)
    server_id: str = Field(primary_key=True, max_length=64)
    ordinal: int = 0
    name: str = Field(default="", max_length=255)
    project_id: str = Field(default="", max_length=64)
    department: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=16)
    kind: str = Field(default="live", max_length=8)
    target: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class HostDrainEventRow(SQLModel, table=True):
    """A line of a drain's progress (what ``govcloud host drain`` prints while it runs)."""

    __tablename__ = "host_drain_event"
    __table_args__ = (Index("ix_host_drain_event_drain", "drain_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    drain_id: int
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    kind: str = Field(max_length=32)
    message: str = Field(sa_type=Text)


class HostMaintenanceRow(SQLModel, table=True):
    """A compute host in maintenance: by its service host name and its hypervisor's."""

    __tablename__ = "host_maintenance"

    site: str = Field(primary_key=True, max_length=63)
    host: str = Field(primary_key=True, max_length=255)
    hypervisor: str | None = Field(default=None, max_length=255)
    drain_id: int | None = None
    since: datetime = Field(sa_type=DateTime(timezone=True))
    marked_by: str = Field(max_length=64)
