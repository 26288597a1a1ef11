"""The control plane's tables. Alembic owns the schema: every change here needs a revision
in ``migrations/versions`` (a test compares the two)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, Text
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


class PrincipalRow(SQLModel, table=True):
    """Someone (or a pipeline) with an API token. Only the token's SHA-256 is kept."""

    __tablename__ = "principal"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=32)
    city: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntryRow(SQLModel, table=True):
    """One entry of the hash-chained audit log (see govcloud.domain.audit)."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    actor: str = Field(max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    target: str = Field(max_length=255, index=True)
    before_json: str | None = Field(default=None, sa_type=Text)
    after_json: str | None = Field(default=None, sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
