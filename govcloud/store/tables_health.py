"""Health tables (revision 0005_health): the newest probe of each site's service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Text
from sqlmodel import Field, SQLModel


class ProbeResultRow(SQLModel, table=True):
    """The newest probe of one service of one site (one row per pair, overwritten)."""

    __tablename__ = "probe_result"

    site: str = Field(primary_key=True, max_length=63)
    service: str = Field(primary_key=True, max_length=32)
    up: bool = False
    latency_s: float = 0.0
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=Text)
    checked_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    last_ok_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    failures: int = 0
