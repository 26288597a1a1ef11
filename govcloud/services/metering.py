"""Metering use cases beside the sync (which meters every hour it reads, see
``govcloud.services.sync``): rebuilding a month's rollups from what the store holds, filling
a stretch of hours (``govcloud report backfill``), reading a month's usage and gaps, and
pricing it with the approved sheets.

``backfill_month`` replaces, site by site and each in one transaction, the month's rollups
with what the servers' lifetimes in the store say (``govcloud.domain.metering.backfill_site``):
every hour the site is known to have been read keeps its figures, the others stay gaps. Run
twice on the same store it writes the same figures.

``backfill`` (bureau-admin, ``metering.backfill``) fills the hours of a stretch (at most 31
days, over before the current hour) that the store shows the site was read in but that hold
no sync's reading — hours before metering existed, say — by the same rule, and marks them
``filled``; a sync's reading is never replaced, and an hour nobody read stays a gap (its
usage is unknown: nothing is carried forward or estimated). Each site in one transaction with
its audit entry (``metering.backfill``, target ``site:NAME``). A closed month is refused, and
bad input (``--to`` not after ``--from``, a stretch too long or in the future, an unknown
site) changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.metering import (
    Gap,
    Month,
    UsageRow,
    backfill_site,
    backfill_window,
    gaps,
    gaps_between,
    months_between,
)
from govcloud.domain.prices import check_sheets
from govcloud.domain.rating import Rating, rate_month
from govcloud.domain.rbac import GLOBAL, Action, Principal, require
from govcloud.domain.sites import Site
from govcloud.domain.statements import MonthClosed, gap_runs
from govcloud.domain.text import printable
from govcloud.errors import NotFound
from govcloud.services.prices import approved_sheets
from govcloud.store import metering_repo as repo
from govcloud.store import statements_repo
from govcloud.store.audit import AuditLog, write_session
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
    closed month is refused (``MonthClosed``): its statements are frozen. Hours with no
    sync's reading are marked filled."""
    _refuse_closed(engine, [month])
    rows: dict[str, int] = {}
    hours: dict[str, int] = {}
    for site in sorted(sites, key=lambda s: s.name):
        with write_begin(engine) as conn:
            known = repo.known_hours(conn, site.name, month.start, month.end)
            usage = backfill_site(month, site.name, site.role, known.read,
                                  repo.server_spans(conn, site.name, month),
                                  repo.volume_groups(conn, site.name))
            repo.replace_month(conn, site.name, month, usage, known.read, at=clock(),
                               filled=known.unsynced, reason=FILLED_REASON)
        rows[site.name], hours[site.name] = len(usage), len(known.read)
    return BackfillResult(month, rows, hours)


FILLED_REASON = "filled by a backfill from the servers' lifetimes (no sync reading kept)"


def _refuse_closed(engine: Engine, months: Sequence[Month]) -> None:
    with engine.connect() as conn:
        for month in months:
            if statements_repo.closed_month(conn, month) is not None:
                raise MonthClosed(f"{month} is closed: its usage is frozen with its statements",
                                  hint="a closed month is never rebuilt (docs/reports.md)")


def backfill(engine: Engine, principal: Principal, start: dt.datetime, end: dt.datetime, *,
             sites: Sequence[Site], site: str | None = None, clock: Clock) -> dict[str, Any]:
    """Fill the hours from ``start`` to ``end`` of ``site`` (every site when None) that
    the site was read in but hold no sync's reading; each site in one transaction with its
    audit entry. What is filled, kept and left a gap, per site."""
    require(principal, Action.METERING_BACKFILL, GLOBAL)
    first, stop = backfill_window(start, end, now=clock())
    chosen = sorted(sites, key=lambda s: s.name)
    if site is not None:
        chosen = [s for s in chosen if s.name == site]
        if not chosen:
            raise NotFound(f"no site '{printable(site[:64])}'",
                           hint="sites: " + (", ".join(sorted(s.name for s in sites))
                                             or "none configured"))
    _refuse_closed(engine, months_between(first, stop))
    done = [_fill_site(engine, principal, s, first, stop, clock) for s in chosen]
    return {"from": first.isoformat(), "to": stop.isoformat(),
            "hours": int((stop - first).total_seconds()) // 3600, "sites": done}


def _fill_site(engine: Engine, principal: Principal, site: Site, first: dt.datetime,
               stop: dt.datetime, clock: Clock) -> dict[str, Any]:
    with write_session(engine) as session:
        conn = session.connection()
        known = repo.known_hours(conn, site.name, first, stop)
        rows: list[UsageRow] = []
        for month in months_between(first, stop):
            fill = {h for h in known.unsynced if month.start <= h < month.end}
            if fill:
                rows += backfill_site(month, site.name, site.role, fill,
                                      repo.server_spans(conn, site.name, month),
                                      repo.volume_groups(conn, site.name))
        if known.unsynced:
            repo.fill_hours(conn, site.name, known.unsynced, rows, at=clock(),
                            reason=f"{FILLED_REASON}, by {principal.name}")
        left = gaps_between(first, stop, [site.name],
                            [h for h in repo.site_hours(conn, first, stop)
                             if h.site == site.name])
        summary = {"site": site.name, "filled": len(known.unsynced),
                   "kept": len(known.synced), "rows": len(rows), "gaps": len(left)}
        if known.unsynced:
            AuditLog(session=session, clock=clock).append(
                actor=principal.name, action="metering.backfill", target=f"site:{site.name}",
                after={"from": first.isoformat(), "to": stop.isoformat(), **summary})
        session.commit()
    return {**summary, "gap_runs": gap_runs(left)}


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
