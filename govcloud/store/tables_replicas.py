"""High-availability tables (revision 0022_leases): the ``govcloud serve`` replicas sharing a
PostgreSQL database, and the lease of each background worker (which replica runs it, until
when). docs/high-availability.md explains the leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class ReplicaRow(SQLModel, table=True):
    """One ``govcloud serve`` process: where it runs and when it was last heard of (its
    lease keeper beats every ``lease_renew_s``); ``stopped_at`` once it stopped cleanly."""

    __tablename__ = "replica"

    id: str = Field(primary_key=True, max_length=80)
    host: str = Field(max_length=255)
    pid: int
    url: str | None = Field(default=None, max_length=255)
    version: str = Field(max_length=32)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_seen: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    stopped_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class WorkerLeaseRow(SQLModel, table=True):
    """A background worker's lease: the replica holding it runs the worker until
    ``expires_at`` (the database's clock), renewing it; once it has expired another replica
    may take it. ``takeovers`` counts the times it changed hands."""

    __tablename__ = "worker_lease"

    worker: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=80)
    acquired_at: datetime = Field(sa_type=DateTime(timezone=True))
    renewed_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    takeovers: int = 0
