"""The history of Prometheus' alerts (revision 0027_alert_history, issue 20): one row per
episode — an alert (its labels' fingerprint) firing from ``started_at`` until ``ended_at``
(NULL: not resolved yet, as far as govcloud was told) — as Alertmanager's webhook or
Prometheus posted it (``govcloud.domain.alert_history``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text
from sqlmodel import Field, SQLModel


class AlertEpisodeRow(SQLModel, table=True):
    """``labels``: every label of the alert, as sorted JSON; ``alertname``, ``department``,
    ``site`` and ``severity`` are also columns of their own (empty: no such label).
    ``recorded_by``: the principal whose post first told of it."""

    __tablename__ = "alert_episode"
    __table_args__ = (Index("ix_alert_episode_started_at", "started_at"),
                      Index("ix_alert_episode_ended_at", "ended_at"))

    fingerprint: str = Field(primary_key=True, max_length=16)
    started_at: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    alertname: str = Field(max_length=1024)
    department: str = Field(default="", max_length=1024)
    site: str = Field(default="", max_length=1024)
    severity: str = Field(default="", max_length=1024)
    labels: str = Field(sa_type=Text)
    summary: str = Field(default="", sa_type=Text)
    source: str = Field(max_length=16)
    recorded_by: str = Field(max_length=64)
    first_seen: datetime = Field(sa_type=DateTime(timezone=True))
    last_seen: datetime = Field(sa_type=DateTime(timezone=True))
