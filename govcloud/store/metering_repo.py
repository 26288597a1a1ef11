"""Metering and price sheets: their SQL (tables in ``tables_metering``).

* A sync contributes its site's current hour with two grouped queries over what it just
  stored (servers by department, flavor and status; volumes by department) and one replace of
  that hour's rows for the site (``record_site_hour``) — bounded by the number of groups, never
  a row per server. A later sync in the same hour replaces them: an hour holds the last
  reading taken in it.
* A failed sync records a gap for its hour, unless the site was already read in that hour
  (``record_gap``); a successful sync afterwards turns the gap into a reading.
* A backfill rebuilds a month of one site from the servers' lifetimes (``server_spans``) and
  the hours the site is known to have been read (``known_hours``), replacing that month's rows
  (``replace_month``); a backfill of a stretch of hours fills only those with no sync's
  reading, marking them filled (``fill_hours``).
* Price sheets are inserted as ``proposed`` and moved once to ``approved``; nothing updates
  an approved sheet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from govcloud.domain.metering import (
    HourState,
    Month,
    Resource,
    ServerGroup,
    ServerSpan,
    SiteHour,
    UsageKind,
    UsageRow,
    VolumeGroup,
    from_stored,
    hour_of,
    site_hour_totals,
    stored_quantity,
)
from govcloud.domain.prices import PriceSheet, SheetState
from govcloud.domain.sites import SiteRole
from govcloud.errors import ConflictError, NotFound
from govcloud.store.bulk import Delete, Insert, Operation, Update, read_all, write_all
from govcloud.store.inventory import CHUNK, aware, table
from govcloud.store.tables_metering import (  # noqa: F401  (registers the tables)
    PriceSheetRow,
    UsageHourRow,
    UsageSiteHourRow,
)

MAX_REASON = 500
WRITE_CHUNK = 50_000  # rollup rows per bulk statement (a backfill writes a month of them)


def _insert(conn: Connection) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if conn.dialect.name == "postgresql" else sqlite.Insert


# --- usage ---------------------------------------------------------------------------------------

def site_groups(conn: Connection, site: str) -> tuple[list[ServerGroup], list[VolumeGroup]]:
    """The site's live servers grouped by department, flavor and status with their summed
    sizes, and its volumes' size per department: what one hour's rollup is made of."""
    servers, volumes, _ = _hour_reads(conn, site, None)
    return servers, volumes


def _usage_values(rows: Iterable[UsageRow]) -> list[dict[str, object]]:
    return [{"hour": r.hour, "site": r.site, "department": r.department, "flavor": r.flavor,
             "kind": r.kind.value, "resource": r.resource.value,
             "quantity": stored_quantity(r.resource, r.quantity)} for r in rows]


# --- per-dialect SQL: a sync's metering reads ----------------------------------------------------
#
# Hand-written, and why: a sync meters its site inside its write transaction, and the metering
# must add < 100 ms to a province-scale sync (issue 20). As SQLAlchemy statements the three
# reads (servers and volumes grouped, the hour's stored rows) cost three round trips and
# SQLAlchemy's processing of about a thousand rows; here they are the driver's own SQL run by
# ``bulk.read_all`` (on PostgreSQL one pipeline, one round trip). The portable statements they
# replace are those of ``volume_groups`` and the rows ``usage_rows`` reads; the tests check on
# both databases that the hour they write is the one a fresh reading gives.

_Key = tuple[str, str, str, str]  # a rollup row's department, flavor, kind and resource
_KEY = ("department", "flavor", "kind", "resource")


@lru_cache(maxsize=8)
def _hour_sql(dialect: Any) -> tuple[str, str, str, Any]:
    """The statements of ``_hour_reads`` on ``dialect`` (servers, volumes, the hour's stored
    rows) and the conversion of an hour to a parameter (SQLite keeps datetimes as text)."""
    p = "%s" if dialect.name == "postgresql" else "?"
    servers = ("SELECT department, flavor_name, status, count(*), sum(vcpus), sum(ram_mb), "
               f"sum(disk_gb + ephemeral_gb) FROM server WHERE site = {p} "
               "AND deleted_at IS NULL GROUP BY department, flavor_name, status")
    volumes = (f"SELECT department, sum(size_gb) FROM volume WHERE site = {p} "
               "GROUP BY department ORDER BY department")
    stored = (f"SELECT {', '.join(_KEY)}, quantity FROM usage_hour "
              f"WHERE hour = {p} AND site = {p}")
    hour_type = table("usage_hour").c.hour.type.dialect_impl(dialect)
    return servers, volumes, stored, hour_type.bind_processor(dialect)


def _hour_reads(conn: Connection, site: str, hour: dt.datetime | None
                ) -> tuple[list[ServerGroup], list[VolumeGroup], dict[_Key, int]]:
    """The site's server and volume groups, and (with ``hour``) the quantities stored for
    the site's hour by key: one ``bulk.read_all``."""
    servers_sql, volumes_sql, stored_sql, hour_param = _hour_sql(conn.dialect)
    when = hour_param(hour) if hour_param is not None and hour is not None else hour
    servers, volumes, stored = read_all(conn, [
        (servers_sql, (site,)), (volumes_sql, (site,)),
        (stored_sql, (when, site)) if hour is not None else None])
    return ([ServerGroup(d, f, st, int(n), int(v or 0), int(r or 0), int(g or 0))
             for d, f, st, n, v, r, g in servers],
            [VolumeGroup(d, int(size or 0)) for d, size in volumes],
            {(d, f, k, r): int(q) for d, f, k, r, q in stored})


def _write_usage(conn: Connection, rows: Sequence[UsageRow]) -> None:
    """Insert ``rows`` in bulk (``bulk.write_all``: on PostgreSQL one statement of arrays per
    chunk, all in one pipeline; on SQLite one executemany per chunk)."""
    values = _usage_values(rows)
    usage = table("usage_hour")
    write_all(conn, [Insert(usage, values[i:i + WRITE_CHUNK])
                     for i in range(0, len(values), WRITE_CHUNK)])


def _mark(conn: Connection, site: str, hour: dt.datetime, at: dt.datetime,
          state: HourState, reason: str | None) -> None:
    _mark_hours(conn, site, [hour], at, state, reason)


def _mark_hours(conn: Connection, site: str, hours: Sequence[dt.datetime], at: dt.datetime,
                state: HourState, reason: str | None) -> None:
    """Mark ``hours`` of the site ``state``: a reading always; a gap only over a gap; a
    filled hour over anything but a sync's reading."""
    if not hours:
        return
    tbl = table("usage_site_hour")
    stmt = _insert(conn)(tbl)
    guard = {HourState.READ: None, HourState.GAP: tbl.c.state == HourState.GAP.value,
             HourState.FILLED: tbl.c.state != HourState.READ.value}[state]
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["hour", "site"],
        set_={"state": stmt.excluded.state, "at": stmt.excluded.at,
              "reason": stmt.excluded.reason}, where=guard),
        [{"hour": h, "site": site, "state": state.value, "at": at, "reason": reason}
         for h in hours])


def _hour_changes(site: str, hour: dt.datetime, stored: dict[_Key, int],
                  new: dict[_Key, int]) -> list[Operation]:
    """What turns the stored rows of the site's hour into ``new``: the keys gone deleted, the
    quantities changed updated, the keys new inserted; rows that stay as they are untouched."""
    usage = table("usage_hour")
    where = {"hour": hour, "site": site}
    gone = [{**where, **dict(zip(_KEY, k, strict=True))} for k in stored if k not in new]
    changed = [{**where, **dict(zip(_KEY, k, strict=True)), "quantity": q}
               for k, q in new.items() if k in stored and stored[k] != q]
    added = [{**dict(zip(_KEY, k, strict=True)), "quantity": q}
             for k, q in new.items() if k not in stored]
    return [Delete(usage, gone), Update(usage, ("hour", "site", *_KEY), changed),
            Insert(usage, added, same=where)]


def record_site_hour(conn: Connection, site: str, role: SiteRole, at: dt.datetime) -> int:
    """The site's usage as stored now becomes its rollup for the hour of ``at`` (replacing
    an earlier reading of that hour), and the hour is marked read. Returns the hour's rows.

    An earlier reading of the hour is brought up to date rather than rewritten: only rows
    whose quantity changed, appeared or vanished are written (``bulk.write_all``, on
    PostgreSQL one pipeline), so the syncs after the hour's first write a few rows each and
    leave no dead rows behind."""
    hour = hour_of(at)
    servers, volumes, stored = _hour_reads(conn, site, hour)
    new = {(k.department, k.flavor, k.kind.value, k.resource.value):
           stored_quantity(k.resource, q)
           for k, q in site_hour_totals(site, role, servers, volumes).items()}
    write_all(conn, _hour_changes(site, hour, stored, new))
    _mark(conn, site, hour, at, HourState.READ, None)
    return len(new)


def record_gap(conn: Connection, site: str, at: dt.datetime, reason: str) -> None:
    """The site could not be read at ``at``: its hour is a gap with ``reason``, unless the
    site was already read in that hour."""
    _mark(conn, site, hour_of(at), at, HourState.GAP, " ".join(reason.split())[:MAX_REASON])


def usage_rows(conn: Connection, start: dt.datetime, end: dt.datetime, *,
               departments: Collection[str] | None = None) -> list[UsageRow]:
    """Every rollup row with ``start <= hour < end`` (of ``departments`` when given), in
    key order."""
    tbl = table("usage_hour")
    query = select(tbl).where(and_(tbl.c.hour >= start, tbl.c.hour < end))
    if departments is not None:
        query = query.where(tbl.c.department.in_(sorted(departments)))
    out = []
    for r in conn.execute(query):
        resource = Resource(r.resource)
        out.append(UsageRow(aware(r.hour) or start, r.department, r.site, r.flavor,
                            UsageKind(r.kind), resource, from_stored(resource,
                                                                     int(r.quantity))))
    return sorted(out)


def usage_days(conn: Connection, month: Month) -> list[UsageRow]:
    """A month's billed rollups (not ``active``) summed per UTC day in the database (a row's
    ``hour`` is its day's first hour, its quantity the day's unit-hours): what rating and
    statements need, in a thirtieth of the rows ``usage_rows`` reads. Stored hours are UTC
    (SQLite keeps them as text, PostgreSQL as timestamptz, truncated in UTC whatever the
    session's zone)."""
    tbl = table("usage_hour")
    if conn.dialect.name == "postgresql":
        day: Any = func.date_trunc("day", func.timezone("UTC", tbl.c.hour))
    else:
        day = func.substr(tbl.c.hour, 1, 10)
    keys = (tbl.c.department, tbl.c.site, tbl.c.flavor, tbl.c.kind, tbl.c.resource)
    query = (select(day.label("day"), *keys, func.sum(tbl.c.quantity).label("quantity"))
             .where(and_(tbl.c.hour >= month.start, tbl.c.hour < month.end,
                         tbl.c.resource != Resource.ACTIVE.value))
             .group_by(day, *keys))
    out = []
    for r in conn.execute(query):
        when = r.day if isinstance(r.day, dt.datetime) else dt.datetime.fromisoformat(r.day)
        resource = Resource(r.resource)
        out.append(UsageRow(when.replace(tzinfo=dt.UTC), r.department, r.site, r.flavor,
                            UsageKind(r.kind), resource,
                            from_stored(resource, int(r.quantity))))
    return sorted(out)


def site_hours(conn: Connection, start: dt.datetime, end: dt.datetime) -> list[SiteHour]:
    tbl = table("usage_site_hour")
    return [SiteHour(aware(r.hour) or start, r.site, HourState(r.state), r.reason)
            for r in conn.execute(select(tbl).where(and_(tbl.c.hour >= start, tbl.c.hour < end))
                                  .order_by(tbl.c.hour, tbl.c.site))]


def server_hours(conn: Connection, month: Month) -> list[tuple[str, int, int]]:
    """Per department: its primary copies' server-hours in ``month`` and, of those, the
    hours they were ACTIVE — counted only where the hour's ``active`` row exists (metered
    since the ACTIVE count was), so an hour metered before it is left out, not read as 0."""
    srv, act = table("usage_hour").alias("s"), table("usage_hour").alias("a")
    same = [act.c[k] == srv.c[k] for k in ("hour", "site", "department", "flavor", "kind")]
    query = (select(srv.c.department, func.sum(srv.c.quantity), func.sum(act.c.quantity))
             .select_from(srv.join(act, and_(*same, act.c.resource == Resource.ACTIVE.value)))
             .where(and_(srv.c.resource == Resource.SERVERS.value,
                         srv.c.kind == UsageKind.PRIMARY.value,
                         srv.c.hour >= month.start, srv.c.hour < month.end))
             .group_by(srv.c.department).order_by(srv.c.department))
    return [(str(d), int(total or 0), int(active or 0)) for d, total, active in
            conn.execute(query)]


# --- backfill ------------------------------------------------------------------------------------

def server_spans(conn: Connection, site: str, month: Month) -> list[ServerSpan]:
    """The site's servers that existed at some moment of ``month`` (tombstones included)."""
    srv = table("server")
    return [ServerSpan(r.department, r.flavor_name, r.status, int(r.vcpus), int(r.ram_mb),
                       int(r.disk_gb) + int(r.ephemeral_gb), aware(r.created) or month.start,
                       aware(r.deleted_at))
            for r in conn.execute(
                select(srv.c.department, srv.c.flavor_name, srv.c.status, srv.c.vcpus,
                       srv.c.ram_mb, srv.c.disk_gb, srv.c.ephemeral_gb, srv.c.created,
                       srv.c.deleted_at)
                .where(and_(srv.c.site == site, srv.c.created < month.end,
                            or_(srv.c.deleted_at.is_(None),
                                srv.c.deleted_at >= month.start)))
                .order_by(srv.c.id))]


def volume_groups(conn: Connection, site: str) -> list[VolumeGroup]:
    """The site's volumes' size per department (as of the last full sync: volumes keep no
    history)."""
    vol = table("volume")
    return [VolumeGroup(r.department, int(r.size or 0)) for r in conn.execute(
        select(vol.c.department, func.sum(vol.c.size_gb).label("size"))
        .where(vol.c.site == site).group_by(vol.c.department).order_by(vol.c.department))]


@dataclass(frozen=True, slots=True)
class KnownHours:
    """The hours a site is known to have been read in: ``synced`` marked read by a sync,
    ``sampled`` holding a capacity sample (every successful sync, full or incremental, writes
    one; so do the syncs before metering existed)."""

    synced: frozenset[dt.datetime]
    sampled: frozenset[dt.datetime]

    @property
    def read(self) -> frozenset[dt.datetime]:
        return self.synced | self.sampled

    @property
    def unsynced(self) -> frozenset[dt.datetime]:
        """Read, but with no sync's reading kept: what a backfill fills."""
        return self.sampled - self.synced


def known_hours(conn: Connection, site: str, start: dt.datetime,
                end: dt.datetime) -> KnownHours:
    """The hours from ``start`` to ``end`` (exclusive) the site is known to have been read."""
    marks, samples = table("usage_site_hour"), table("capacity_sample")
    synced = {aware(r.hour) or start for r in conn.execute(
        select(marks.c.hour).where(and_(marks.c.site == site,
                                        marks.c.state == HourState.READ.value,
                                        marks.c.hour >= start, marks.c.hour < end)))}
    sampled = {hour_of(aware(r.at) or start) for r in conn.execute(
        select(samples.c.at).where(and_(samples.c.site == site, samples.c.at >= start,
                                        samples.c.at < end)))}
    return KnownHours(frozenset(synced), frozenset(sampled))


def read_hours(conn: Connection, site: str, month: Month) -> set[dt.datetime]:
    """The hours of ``month`` the site is known to have been read in (``known_hours``)."""
    return set(known_hours(conn, site, month.start, month.end).read)


def replace_month(conn: Connection, site: str, month: Month, rows: Sequence[UsageRow],
                  read: Iterable[dt.datetime], *, at: dt.datetime,
                  filled: Collection[dt.datetime] = (), reason: str | None = None) -> None:
    """The site's rollups for ``month`` become ``rows``; every hour in ``read`` is marked
    read, or filled (with ``reason``) when it is in ``filled``; gaps recorded for other hours
    stay."""
    usage = table("usage_hour")
    conn.execute(delete(usage).where(and_(usage.c.site == site, usage.c.hour >= month.start,
                                          usage.c.hour < month.end)))
    _write_usage(conn, rows)
    hours = sorted(set(read))
    _mark_hours(conn, site, [h for h in hours if h not in filled], at, HourState.READ, None)
    _mark_hours(conn, site, [h for h in hours if h in filled], at, HourState.FILLED, reason)


def fill_hours(conn: Connection, site: str, hours: Collection[dt.datetime],
               rows: Sequence[UsageRow], *, at: dt.datetime, reason: str) -> None:
    """The site's rollups of ``hours`` (none a sync's reading) become ``rows``, and the hours
    are marked filled with ``reason``."""
    usage = table("usage_hour")
    ordered = sorted(hours)
    for i in range(0, len(ordered), CHUNK):
        conn.execute(delete(usage).where(and_(usage.c.site == site,
                                              usage.c.hour.in_(ordered[i:i + CHUNK]))))
    _write_usage(conn, rows)
    _mark_hours(conn, site, ordered, at, HourState.FILLED, " ".join(reason.split())[:MAX_REASON])


# --- price sheets --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredSheet:
    version: str
    effective_from: dt.date
    effective_until: dt.date | None
    currency: str
    state: SheetState
    document: str
    digest: str
    proposed_by: str
    proposed_by_person: str
    proposed_at: dt.datetime
    approved_by: str | None = None
    approved_by_person: str | None = None
    approved_at: dt.datetime | None = None

    def state_on(self, day: dt.date) -> SheetState:
        """``effective`` once approved and its first day has come."""
        if self.state is SheetState.APPROVED and self.effective_from <= day:
            return SheetState.EFFECTIVE
        return self.state


def document_digest(document: str) -> str:
    return "sha256:" + hashlib.sha256(document.encode("utf-8")).hexdigest()


def _sheet(r: Any) -> StoredSheet:
    return StoredSheet(r.version, r.effective_from, r.effective_until, r.currency,
                       SheetState(r.state), r.document, r.digest, r.proposed_by,
                       r.proposed_by_person,
                       aware(r.proposed_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                       r.approved_by, r.approved_by_person, aware(r.approved_at))


def add_sheet(conn: Connection, sheet: PriceSheet, document: str, *, by: str, person: str,
              at: dt.datetime) -> StoredSheet:
    """Store ``sheet`` (parsed from ``document``) as proposed; a version already stored, in
    any state, is a ConflictError (a correction is a new version)."""
    tbl = table("price_sheet")
    if conn.execute(select(tbl.c.state).where(tbl.c.version == sheet.version)).first():
        raise ConflictError(f"price sheet {sheet.version} already exists",
                            hint="a sheet is never edited: give the correction a new version")
    conn.execute(insert(tbl).values(
        version=sheet.version, effective_from=sheet.effective_from,
        effective_until=sheet.effective_until, currency=sheet.currency,
        state=SheetState.PROPOSED.value, document=document, digest=document_digest(document),
        proposed_by=by, proposed_by_person=person, proposed_at=at))
    return get_sheet(conn, sheet.version)


def approve_sheet(conn: Connection, version: str, *, by: str, person: str,
                  at: dt.datetime) -> StoredSheet:
    """Move a proposed sheet to approved, once; an approved one is a ConflictError."""
    tbl = table("price_sheet")
    done = conn.execute(update(tbl).where(and_(tbl.c.version == version,
                                               tbl.c.state == SheetState.PROPOSED.value))
                        .values(state=SheetState.APPROVED.value, approved_by=by,
                                approved_by_person=person, approved_at=at)).rowcount
    if not done:
        current = get_sheet(conn, version)  # NotFound when there is none
        raise ConflictError(f"price sheet {version} is already {current.state.value}",
                            hint="an approved sheet is never changed; propose a new version")
    return get_sheet(conn, version)


def get_sheet(conn: Connection, version: str) -> StoredSheet:
    tbl = table("price_sheet")
    row = conn.execute(select(tbl).where(tbl.c.version == version)).first()
    if row is None:
        raise NotFound(f"no price sheet {version!r}",
                       hint="check the version; docs/reports.md says how sheets are stored")
    return _sheet(row)


def list_sheets(conn: Connection, *, states: Collection[SheetState] | None = None
                ) -> list[StoredSheet]:
    """Every stored sheet (of ``states`` when given), by start date then version."""
    tbl = table("price_sheet")
    query = select(tbl).order_by(tbl.c.effective_from, tbl.c.version)
    if states is not None:
        query = query.where(tbl.c.state.in_(sorted(s.value for s in states)))
    return [_sheet(r) for r in conn.execute(query)]


def flavor_names(conn: Connection) -> set[str]:
    """Every flavor name the sites offer, as of their last full syncs."""
    tbl = table("flavor")
    return {str(r.name) for r in conn.execute(select(tbl.c.name).distinct())}
