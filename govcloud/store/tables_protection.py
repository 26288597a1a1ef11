"""Disaster-recovery tables (revisions 0012_protection, 0013_point_artifacts and
0029_dr_protection): recovery points with their artifacts and manifests, the latest good one
of each copy server, drill summaries, the systems adopted from inventory and the replication
checks of synchronous copies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Text
from sqlmodel import Field, SQLModel


class RecoveryPointRow(SQLModel, table=True):
    """One protection cycle's outcome for one copy server (``status`` ok, partial, failed);
    kept as history, newest by ``taken_at``."""

    __tablename__ = "recovery_point"
    __table_args__ = (Index("ix_recovery_point_site_server_taken", "site", "server_id",
                            "taken_at"),
                      Index("ix_recovery_point_department_system", "department", "system"))

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    system: str = Field(max_length=128)
    site: str = Field(max_length=63)
    server_id: str = Field(max_length=64)
    taken_at: datetime = Field(sa_type=DateTime(timezone=True))
    kind: str = Field(max_length=32)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    manifest_digest: str | None = Field(default=None, max_length=71)
    status: str = Field(max_length=16)
    error: str | None = Field(default=None, sa_type=Text)
    # revision 0013: where the data is held (JSON list of {kind, site, id}) and the checksum
    # manifest (JSON list of [path, "sha256:..."]); null where not recorded
    artifacts: str | None = Field(default=None, sa_type=Text)
    manifest: str | None = Field(default=None, sa_type=Text)


class RecoveryPointLatestRow(SQLModel, table=True):
    """The latest ``ok`` recovery point of each copy server: one row per server, moved only
    forward and only by a good point, so the posture reads one row per copy."""

    __tablename__ = "recovery_point_latest"
    __table_args__ = (Index("ix_recovery_point_latest_department_system", "department",
                            "system"),)

    site: str = Field(primary_key=True, max_length=63)
    server_id: str = Field(primary_key=True, max_length=64)
    department: str = Field(max_length=64)
    system: str = Field(max_length=128)
    point_id: int
    taken_at: datetime = Field(sa_type=DateTime(timezone=True))


class DrillRecordRow(SQLModel, table=True):
    """A drill's summary as the verdict needs it: when, into which site, the result and the
    achieved RTO in seconds (None when it never became healthy)."""

    __tablename__ = "dr_drill"
    __table_args__ = (Index("ix_dr_drill_department_system_at", "department", "system", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    system: str = Field(max_length=128)
    site: str = Field(max_length=63)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    result: str = Field(max_length=16)
    rto_s: float | None = None


class AdoptedSystemRow(SQLModel, table=True):
    """A system adopted from inventory (revision 0029): servers no provisioning request
    made, named as the system's members in production, protected at ``dr_level`` (the
    department's when adopted, or higher) since ``adopted_at``."""

    __tablename__ = "dr_adopted_system"

    department: str = Field(primary_key=True, max_length=64)
    system: str = Field(primary_key=True, max_length=128)
    dr_level: int
    members_json: str = Field(sa_type=Text)  # JSON list of the production servers' names
    adopted_by: str = Field(max_length=64)
    adopted_at: datetime = Field(sa_type=DateTime(timezone=True))


class ReplicationCheckRow(SQLModel, table=True):
    """The last replication check of a synchronous copy server (revision 0029): whether its
    volumes in the DR site were all of the replicated volume type, when, and what was not."""

    __tablename__ = "dr_replication_check"
    __table_args__ = (Index("ix_dr_replication_check_department", "department"),)

    site: str = Field(primary_key=True, max_length=63)
    server_id: str = Field(primary_key=True, max_length=64)
    department: str = Field(max_length=64)
    system: str = Field(max_length=128)
    checked_at: datetime = Field(sa_type=DateTime(timezone=True))
    ok: bool
    detail: str = Field(default="", sa_type=Text)
