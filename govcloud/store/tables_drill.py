"""DR drill tables (revision 0014_drills): a drill's plan, approval, run claim and evidence,
and its steps on the shared step machine. The summary the posture reads is ``dr_drill``
(``tables_protection``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel


class DrillPlanRow(SQLModel, table=True):
    """One drill: what it drills (a system, or a whole department when ``system`` is None)
    into which DR site, who asked, approved and ran it, the run that holds it (``run_id`` and
    its heartbeat), what it saw and made (``state_json``) and its sealed evidence."""

    __tablename__ = "dr_drill_plan"
    __table_args__ = (Index("ix_dr_drill_plan_department", "department"),)

    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=64)
    system: str | None = Field(default=None, max_length=128)
    site: str = Field(max_length=63)
    state: str = Field(max_length=16)
    requester: str = Field(max_length=64)
    requester_person: str = Field(max_length=128)
    approver: str | None = Field(default=None, max_length=64)
    runner: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    cleaned_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    run_id: str | None = Field(default=None, max_length=64)
    heartbeat_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    state_json: str | None = Field(default=None, sa_type=Text)
    evidence: str | None = Field(default=None, sa_type=Text)
    evidence_digest: str | None = Field(default=None, max_length=71)


class DrillStepRow(SQLModel, table=True):
    """One step of one drill: its status, when it started and ended, its output."""

    __tablename__ = "dr_drill_step"

    drill_id: int = Field(primary_key=True)
    step: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="pending", max_length=16)
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    output: str | None = Field(default=None, sa_type=Text)
