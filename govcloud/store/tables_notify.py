"""The notifications' outbox (revision 0020_notifications, issue 21): one row per message to
one recipient on one channel, written in the transaction of the state change it tells about,
and delivered later by the notifier worker (docs/notifications.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel


class NotificationRow(SQLModel, table=True):
    """One message: the event it tells (``event``: its kind; ``ref``: the request, drill,
    change or host), to whom (``department``, ``channel`` email or webhook, ``recipient``: an
    address or a URL), what (``payload``: the event and its rendered message, JSON), and how
    delivering it goes: ``state`` pending, sent or dead, the ``attempts`` made, when it is
    tried next (``next_attempt_at``; a worker holding it pushes it past its lease) and the
    last error."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_due", "state", "next_attempt_at"),
                      Index("ix_notification_department", "department"))

    id: int | None = Field(default=None, primary_key=True)
    event: str = Field(max_length=32)
    ref: str = Field(max_length=200)
    department: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=2048)
    payload: str = Field(sa_type=Text)
    state: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
