"""``/reports/prices``: the price sheets the bureau pays the operator by (docs/reports.md)."""

from __future__ import annotations

from pydantic import Field

from govcloud.api.models.common import ApiModel, Time


class PriceSheetInfo(ApiModel):
    """A stored price sheet (its YAML text is not sent; ``digest`` identifies it)."""

    version: str
    effective_from: str  # YYYY-MM-DD
    effective_until: str | None
    currency: str
    state: str  # proposed, approved (not in effect yet), effective
    digest: str  # sha256: of the YAML text as proposed
    proposed_by: str
    proposed_by_person: str
    proposed_at: Time
    approved_by: str | None
    approved_by_person: str | None
    approved_at: Time | None


class PriceSheetAnswer(ApiModel):
    sheet: PriceSheetInfo


class PriceSheetList(ApiModel):
    sheets: list[PriceSheetInfo]  # by start date, then version


# --- monthly statements (``/reports/statements/{month}``, ``/reports/usage/{month}``) -------

class UsageFigure(ApiModel):
    site: str
    resource: str  # servers, vcpu, ram_gib, disk_gb, volume_gb
    kind: str  # primary, hot, warm, cold
    quantity: str  # unit-hours, a decimal as text


class StatementLineInfo(ApiModel):
    site: str
    flavor: str
    kind: str
    resource: str
    sheet: str  # the price sheet's version
    quantity: str
    unit: str
    price: str
    base: str
    surcharge: str  # the DR surcharge
    amount: str  # base + surcharge, to the cent


class GapRun(ApiModel):
    """Consecutive hours a site was not read, for one reason (usage unknown, not zero)."""

    site: str
    from_: str = Field(alias="from")
    until: str
    hours: int
    reason: str


class DepartmentStatement(ApiModel):
    month: str
    department: str  # empty: projects no department owns
    name: str
    city: str | None  # None: a provincial department
    dr_level: int
    currency: str
    sheets: list[str]
    usage: list[UsageFigure]
    lines: list[StatementLineInfo]
    base: str
    surcharge: str
    total: str
    gaps: list[GapRun]
    daily: dict[str, list[str]]  # vCPU-hours per site and day


class Totals(ApiModel):
    departments: int
    base: str
    surcharge: str
    total: str


class CityTotals(Totals):
    city: str


class ClosedMonthInfo(ApiModel):
    month: str
    closed_at: Time
    closed_by: str
    closed_by_person: str
    digest: str  # the month's seal
    departments: int
    total: str


class StatementReport(ApiModel):
    month: str
    closed: ClosedMonthInfo | None  # set: the frozen statements are served
    statements: list[DepartmentStatement]
    cities: list[CityTotals]
    province: Totals  # of the statements shown
    sheets: list[str]
    gaps: list[GapRun]


class ReportFile(ApiModel):
    """A report as a file (CSV, spreadsheet or PDF), its bytes in base64."""

    filename: str
    media_type: str
    size: int
    digest: str
    content_base64: str


class MonthClosed(ApiModel):
    closed: ClosedMonthInfo
    already_closed: bool  # true: closed before, and a rebuild gives the same statements
    differences: list[str]


class BackfillSite(ApiModel):
    site: str
    filled: int  # hours filled from the servers' lifetimes (read, but no sync reading kept)
    kept: int  # hours a sync read: never replaced
    rows: int  # rollup rows written
    gaps: int  # hours still not read: usage unknown, left a gap
    gap_runs: list[GapRun]


class Backfilled(ApiModel):
    """What a backfill filled, kept and left a gap, per site (``POST /reports/backfill``)."""

    from_: str = Field(alias="from")
    to: str  # exclusive
    hours: int
    sites: list[BackfillSite]


# --- the operator scorecard (``/reports/scorecard/{month}``) ------------------------------

class ScoreFigure(ApiModel):
    section: str  # availability, requests, migration, dr, capacity, alerts
    name: str
    value: str
    target: str
    met: bool | None  # None: nothing to judge
    detail: str


class Scorecard(ApiModel):
    month: str
    at: Time  # DR is judged at this moment (capacity: as of the month's end once it is over)
    targets: dict[str, str]
    figures: list[ScoreFigure]
    met: int
    missed: int
