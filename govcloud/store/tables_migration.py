"""Migration tables (revision 0006_migration): legacy hosts and their surveys, waves, each
host's step runs, the events of every playbook run, sign-offs and system endpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel

from govcloud.store.tables import utcnow


class LegacyHostRow(SQLModel, table=True):
    """A legacy host as imported from its department's inventory file (``spec_json``: the
    ``LegacyHost`` as a dict)."""

    __tablename__ = "legacy_host"

    name: str = Field(primary_key=True, max_length=63)
    department: str = Field(max_length=64, index=True)
    system: str = Field(max_length=255)
    spec_json: str = Field(sa_type=Text)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class HostSurveyRow(SQLModel, table=True):
    """The last survey of a legacy host (``data_json``: the ``Survey`` as a dict)."""

    __tablename__ = "host_survey"

    host: str = Field(primary_key=True, max_length=63)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    reachable: bool = False
    data_json: str = Field(sa_type=Text)


class WaveRow(SQLModel, table=True):
    """A migration wave: its hosts (``WaveHostRow``), window, gates and run state."""

    __tablename__ = "migration_wave"

    id: str = Field(primary_key=True, max_length=96)  # <department>-w<number>
    department: str = Field(max_length=64, index=True)
    number: int
    rehearsal: bool = False
    dr_level: int = 1
    window_start: datetime = Field(sa_type=DateTime(timezone=True))
    window_end: datetime = Field(sa_type=DateTime(timezone=True))
    status: str = Field(default="planned", max_length=32)
    override_by: str | None = Field(default=None, max_length=64)
    override_reason: str | None = Field(default=None, sa_type=Text)
    run_id: str | None = Field(default=None, max_length=64)
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    rolled_back_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))


class WaveHostRow(SQLModel, table=True):
    """A host in a wave, with its target (``target_json``: an ``Endpoint``'s fields, plus the
    target's DR ``copies`` and the provisioning ``request`` that built them, if any)."""

    __tablename__ = "wave_host"

    wave: str = Field(primary_key=True, max_length=96)
    host: str = Field(primary_key=True, max_length=63, index=True)
    target_json: str | None = Field(default=None, sa_type=Text)
    target_server: str | None = Field(default=None, max_length=64)
    live: str = Field(default="legacy", max_length=16)  # which side serves: legacy | target


class StepRunRow(SQLModel, table=True):
    """One step of one host in a wave: its status, attempts, timing and last error."""

    __tablename__ = "step_run"

    wave: str = Field(primary_key=True, max_length=96)
    host: str = Field(primary_key=True, max_length=63)
    step: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    seconds: float | None = None
    error: str | None = Field(default=None, sa_type=Text)
    ident: str | None = Field(default=None, max_length=96)


class MigrationEventRow(SQLModel, table=True):
    """An event of a playbook run (ansible-runner's event stream), already redacted."""

    __tablename__ = "migration_event"
    __table_args__ = (Index("ix_migration_event_wave_id", "wave", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    wave: str = Field(max_length=96)
    host: str | None = Field(default=None, max_length=63)
    step: str = Field(max_length=32)
    ident: str = Field(max_length=96)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    event: str = Field(max_length=64)
    task: str | None = Field(default=None, max_length=255)
    message: str | None = Field(default=None, sa_type=Text)


class SignoffRow(SQLModel, table=True):
    """A department's sign-off for migrating (readiness criterion)."""

    __tablename__ = "migration_signoff"

    department: str = Field(primary_key=True, max_length=64)
    by: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    note: str | None = Field(default=None, sa_type=Text)


class SystemEndpointRow(SQLModel, table=True):
    """Where a host's part of a system is served from: switched at cutover and rollback."""

    __tablename__ = "system_endpoint"

    host: str = Field(primary_key=True, max_length=63)
    department: str = Field(max_length=64, index=True)
    system: str = Field(max_length=255)
    side: str = Field(max_length=16)  # legacy | target
    address: str = Field(max_length=255)
    port: int = 22
    switched_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
