"""DR failover tables (revision 0016_failover): a failover's ask, run claim and what it saw
(``dr_failover``), its steps on the shared step machine (``dr_failover_step``), and each
system's roles after failover, reprotect and failback (``dr_system_role``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel


class FailoverRow(SQLModel, table=True):
    """One failover (planned, unplanned or failback) of a system from ``source`` to
    ``target``: who ran it, the run that holds it (``run_id`` and its heartbeat), when it
    started and ended, and what it saw and did (``state_json``)."""

    __tablename__ = "dr_failover"
    __table_args__ = (Index("ix_dr_failover_system", "department", "system"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    system: str = Field(max_length=128)
    kind: str = Field(max_length=16)
    source: str = Field(max_length=63)
    target: str = Field(max_length=63)
    state: str = Field(max_length=16)
    requester: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    run_id: str | None = Field(default=None, max_length=64)
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    state_json: str | None = Field(default=None, sa_type=Text)


class FailoverStepRow(SQLModel, table=True):
    """One step of one failover: its status, when it started and ended, its output."""

    __tablename__ = "dr_failover_step"

    failover_id: int = Field(primary_key=True)
    step: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="pending", max_length=16)
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    output: str | None = Field(default=None, sa_type=Text)


class SystemRoleRow(SQLModel, table=True):
    """Where a system serves from and what protects it, once a failover changed it: the
    ``primary_site``, the ``copy_site`` protecting it (None while nothing does), the
    ``state`` (failed-over, reprotected, normal) and the failover that set it."""

    __tablename__ = "dr_system_role"

    department: str = Field(primary_key=True, max_length=64)
    system: str = Field(primary_key=True, max_length=128)
    primary_site: str = Field(max_length=63)
    copy_site: str | None = Field(default=None, max_length=63)
    state: str = Field(max_length=16)
    failover_id: int | None = None
    changed_at: datetime = Field(sa_type=DateTime(timezone=True))
