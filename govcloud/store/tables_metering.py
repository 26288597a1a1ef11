"""Metering tables (revision 0015_metering, issue 20): hourly usage rollups, which hours each
site was read in (or why not: a gap), and price sheets with their approval state; closed
months and their frozen statements (revision 0017_statements)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Text
from sqlmodel import Field, SQLModel


class UsageHourRow(SQLModel, table=True):
    """One hour's usage of one resource by one department in one site, of one flavor and
    copy kind (never a row per server). ``quantity`` is a whole number: RAM in MiB, the other
    resources in their own unit (``govcloud.domain.metering.stored_quantity``)."""

    __tablename__ = "usage_hour"
    __table_args__ = (Index("ix_usage_hour_department_hour", "department", "hour"),)

    hour: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    site: str = Field(primary_key=True, max_length=63)
    department: str = Field(primary_key=True, max_length=64)
    flavor: str = Field(primary_key=True, max_length=255)
    kind: str = Field(primary_key=True, max_length=16)
    resource: str = Field(primary_key=True, max_length=16)
    quantity: int = Field(sa_type=BigInteger)


class UsageSiteHourRow(SQLModel, table=True):
    """Whether a site was read in an hour (``read``) or not (``gap``, with the reason); an
    hour with no row is a gap too."""

    __tablename__ = "usage_site_hour"

    hour: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    site: str = Field(primary_key=True, max_length=63)
    state: str = Field(max_length=16)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    reason: str | None = Field(default=None, sa_type=Text)


class PriceSheetRow(SQLModel, table=True):
    """A price sheet as proposed (its YAML text and digest); once approved it is never
    edited — a correction is a new version."""

    __tablename__ = "price_sheet"

    version: str = Field(primary_key=True, max_length=64)
    effective_from: date = Field(sa_type=Date)
    effective_until: date | None = Field(default=None, sa_type=Date)
    currency: str = Field(max_length=3)
    state: str = Field(max_length=16)
    document: str = Field(sa_type=Text)
    digest: str = Field(max_length=71)
    proposed_by: str = Field(max_length=64)
    proposed_by_person: str = Field(max_length=128)
    proposed_at: datetime = Field(sa_type=DateTime(timezone=True))
    approved_by: str | None = Field(default=None, max_length=64)
    approved_by_person: str | None = Field(default=None, max_length=128)
    approved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class MonthCloseRow(SQLModel, table=True):
    """A closed month (revision 0017_statements): who closed it, when, and the seal — the
    digest of every department's frozen statement (``domain.statements.month_digest``)."""

    __tablename__ = "month_close"

    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    closed_at: datetime = Field(sa_type=DateTime(timezone=True))
    closed_by: str = Field(max_length=64)
    closed_by_person: str = Field(max_length=128)
    digest: str = Field(max_length=71)
    departments: int
    total: str = Field(max_length=40)  # the province's total, a decimal as text


class ClosedStatementRow(SQLModel, table=True):
    """A department's statement frozen when its month was closed (its JSON, never changed)."""

    __tablename__ = "closed_statement"

    month: str = Field(primary_key=True, max_length=7)
    department: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_type=Text)
    digest: str = Field(max_length=71)
