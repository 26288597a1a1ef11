"""Metering use cases beside the sync (which meters every hour it reads, see
``govcloud.services.sync``): rebuilding a month's rollups from what the store holds, reading
a month's usage and gaps, and pricing it with the approved sheets.

A backfill replaces, site by site and each in one transaction, the month's rollups with what
the servers' lifetimes in the store say (``govcloud.domain.metering.backfill_site``): every
hour the site is known to have been read keeps its figures, the others stay gaps. Run twice
on the same store it writes the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from govcloud.domain.metering import Gap, Month, UsageRow, backfill_site, gaps
from govcloud.domain.prices import check_sheets
from govcloud.domain.rating import Rating, rate_month
from govcloud.domain.sites import Site
from govcloud.domain.statements import MonthClosed
from govcloud.services.prices import approved_sheets
from govcloud.store import metering_repo as repo
from govcloud.store import statements_repo
from govcloud.store.engine import write_begin

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class BackfillResult:
    month: Month
    rows: dict[str, int]  # site → rollup rows written
    hours: dict[str, int]  # site → hours read


def backfill_month(engine: Engine, month: Month, sites: Sequence[Site], *,
                   clock: Clock) -> BackfillResult:
    """Rebuild ``month``'s rollups of ``sites`` from the stored servers (deterministic); a
    closed month is refused (``MonthClosed``): its statements are frozen."""
    with engine.connect() as conn:
        if statements_repo.closed_month(conn, month) is not None:
            raise MonthClosed(f"{month} is closed: its usage is frozen with its statements",
                              hint="a closed month is never rebuilt (docs/reports.md)")
    rows: dict[str, int] = {}
    hours: dict[str, int] = {}
    for site in sorted(sites, key=lambda s: s.name):
        with write_begin(engine) as conn:
            read = repo.read_hours(conn, site.name, month)
            usage = backfill_site(month, site.name, site.role, read,
                                  repo.server_spans(conn, site.name, month),
                                  repo.volume_groups(conn, site.name))
            repo.replace_month(conn, site.name, month, usage, read, at=clock())
        rows[site.name], hours[site.name] = len(usage), len(read)
    return BackfillResult(month, rows, hours)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    month: Month
    rows: tuple[UsageRow, ...]
    gaps: tuple[Gap, ...]


def month_usage(engine: Engine, month: Month, sites: Collection[str], *, clock: Clock,
                departments: Collection[str] | None = None) -> MonthUsage:
    """A month's rollups (of ``departments`` when given) and every hour a site was not read,
    up to now."""
    with engine.connect() as conn:
        rows = repo.usage_rows(conn, month.start, month.end, departments=departments)
        hours = repo.site_hours(conn, month.start, month.end)
    return MonthUsage(month, tuple(rows), tuple(gaps(month, sites, hours, until=clock())))


def rate_stored_month(engine: Engine, month: Month, *, levels: Mapping[str, int],
                      departments: Collection[str] | None = None) -> Rating:
    """``month``'s stored rollups (of ``departments`` when given) priced with the approved
    sheets; ``levels`` is each department's DR level (the catalogue's)."""
    with engine.connect() as conn:
        rows = repo.usage_rows(conn, month.start, month.end, departments=departments)
        sheets = check_sheets(approved_sheets(conn))
    return rate_month(month, rows, sheets, levels)
