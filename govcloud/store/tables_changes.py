"""Change governance tables (revision 0018_changes, issue 21): change requests, the
departments each affects, their approvals (one per person), the operations run under them,
and the change calendar's versions (proposed, then approved by another person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel


class ChangeRow(SQLModel, table=True):
    """One change: what it wraps (``kind``), its type and state, its window (UTC), its
    rollback plan, who asked for it and how many approvals it needs."""

    __tablename__ = "change_request"
    __table_args__ = (Index("ix_change_request_state", "state"),
                      Index("ix_change_request_window_start", "window_start"))

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    type: str = Field(max_length=16)
    title: str = Field(max_length=200)
    sites_json: str = Field(sa_type=Text)  # a JSON list; empty: every site
    window_start: datetime = Field(sa_type=DateTime(timezone=True))
    window_end: datetime = Field(sa_type=DateTime(timezone=True))
    rollback_plan: str = Field(sa_type=Text)
    requester: str = Field(max_length=64)
    requester_person: str = Field(max_length=128)
    state: str = Field(max_length=16)
    approvals_needed: int
    policy: str | None = Field(default=None, max_length=64)
    in_freeze: bool = False
    review_by: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    decided_by: str | None = Field(default=None, max_length=64)  # who rejected or cancelled
    reason: str | None = Field(default=None, sa_type=Text)


class ChangeDepartmentRow(SQLModel, table=True):
    """A department a change affects (lists filter changes by department through here)."""

    __tablename__ = "change_department"
    __table_args__ = (Index("ix_change_department_department", "department"),)

    change_id: int = Field(primary_key=True)
    department: str = Field(primary_key=True, max_length=64)


class ChangeApprovalRow(SQLModel, table=True):
    """One approval of a change; keyed by the person, so nobody approves twice."""

    __tablename__ = "change_approval"

    change_id: int = Field(primary_key=True)
    person_key: str = Field(primary_key=True, max_length=128)  # rbac.same_person's key
    person: str = Field(max_length=128)
    approver: str = Field(max_length=64)
    role: str = Field(max_length=32)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class ChangeLinkRow(SQLModel, table=True):
    """An operation run under a change: its kind and id, who ran it, how it ended."""

    __tablename__ = "change_link"
    __table_args__ = (Index("ix_change_link_change", "change_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    change_id: int
    kind: str = Field(max_length=32)
    ref: str = Field(max_length=255)
    actor: str = Field(max_length=64)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    state: str = Field(max_length=16)  # running, done, failed
    finished_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    detail: str | None = Field(default=None, sa_type=Text)


class ChangeCalendarRow(SQLModel, table=True):
    """A version of the change calendar as proposed (its YAML text and digest); once
    approved it is never edited — a correction is a new version. The newest approved one is
    in force."""

    __tablename__ = "change_calendar"

    version: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_type=Text)
    digest: str = Field(max_length=71)
    state: str = Field(max_length=16)
    proposed_by: str = Field(max_length=64)
    proposed_by_person: str = Field(max_length=128)
    proposed_at: datetime = Field(sa_type=DateTime(timezone=True))
    approved_by: str | None = Field(default=None, max_length=64)
    approved_by_person: str | None = Field(default=None, max_length=128)
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
