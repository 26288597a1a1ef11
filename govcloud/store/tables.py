"""The control plane's tables. Alembic owns the schema: every change here needs a revision
in ``migrations/versions`` (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlmodel import Field, SQLModel

# Stable constraint names on every backend, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class SiteRow(SQLModel, table=True):
    """A site (datacentre) govcloud manages."""

    __tablename__ = "site"

    name: str = Field(primary_key=True, max_length=63)
    cloud: str = Field(max_length=255)
    region: str = Field(max_length=255)
    role: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_type=DateTime(timezone=True))
