"""Metering: what each department used, per site and flavor, hour by hour (issue 20).

Usage is kept as **hourly rollups**: one value per (hour, department, site, flavor, kind,
resource), never a row per server per hour. ``kind`` says whether the servers are a system's
primary copy or a DR copy, and which kind of copy (:class:`UsageKind`: ``hot`` running,
``warm`` stopped on a host, ``cold`` shelved and offloaded), so a price sheet can charge a
shelved copy less than a running standby.

An hour in which a site was not read is a **gap** (:class:`Gap`): its usage is unknown, never
zero. A site read in an hour has a :class:`SiteHour` of state ``read``; a sync that failed
records state ``gap`` with the reason; an hour with no record at all is a gap too.

Hours are UTC; a month is ``YYYY-MM`` from its first hour (00:00 UTC on the 1st) to the first
hour of the next month. Quantities are :class:`~decimal.Decimal` (RAM in GiB is fractional).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from govcloud.domain.sites import SiteRole
from govcloud.errors import InvalidInput

HOUR = dt.timedelta(hours=1)
MAX_BACKFILL_HOURS = 31 * 24  # a backfill covers at most 31 days
UNASSIGNED = ""  # the department of servers in a project no department owns
NO_FLAVOR = ""  # the flavor of volume usage, and of servers whose flavor is not known
MIB_PER_GIB = Decimal(1024)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DR_ROLES = frozenset({SiteRole.SAME_CITY_DR, SiteRole.REMOTE_DR})
_SHELVED = frozenset({"SHELVED", "SHELVED_OFFLOADED"})


class Resource(StrEnum):
    """What is metered. A server's flavor size counts for every hour the server exists.
    ``active`` counts the servers that were ``ACTIVE``: it is not billed (rating and
    statements leave it out), it is the scorecard's availability of each department's
    servers, and it is kept at zero where servers exist and none is ACTIVE, so an hour
    metered before it existed (no ``active`` row) is told from one with no ACTIVE server."""

    SERVERS = "servers"
    VCPU = "vcpu"
    RAM_GIB = "ram_gib"
    DISK_GB = "disk_gb"
    VOLUME_GB = "volume_gb"
    ACTIVE = "active"


BILLED = frozenset(Resource) - {Resource.ACTIVE}


class UsageKind(StrEnum):
    """A server's part in its system: the primary copy, or a DR copy of one kind."""

    PRIMARY = "primary"
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class HourState(StrEnum):
    """``read``: a sync read the site in the hour; ``gap``: it tried and failed; ``filled``:
    no sync reading was kept, but the store shows the site was read (a capacity sample), and
    a backfill computed the hour from the servers' lifetimes — known, and flagged as filled."""

    READ = "read"
    GAP = "gap"
    FILLED = "filled"


def usage_kind(role: SiteRole, status: str) -> UsageKind:
    """The kind of a server from its site's role and its status: in a DR site an ``ACTIVE``
    server is a hot copy, a shelved one a cold copy and any other (``SHUTOFF``, ...) a warm
    copy; in a production or city site every server is a primary."""
    if role not in DR_ROLES:
        return UsageKind.PRIMARY
    if status == "ACTIVE":
        return UsageKind.HOT
    if status in _SHELVED:
        return UsageKind.COLD
    return UsageKind.WARM


def hour_of(at: dt.datetime) -> dt.datetime:
    """The UTC hour ``at`` falls in (an aware datetime is required)."""
    if at.tzinfo is None:
        raise InvalidInput(f"{at.isoformat()} has no time zone",
                           hint="metering hours are UTC: pass an aware datetime")
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in UTC: ``start`` (inclusive) to ``end`` (exclusive)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 2000:
            raise InvalidInput(f"{str(text)[:20]!r} is not a month",
                               hint="write the month as YYYY-MM, e.g. 2026-11")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, at: dt.datetime) -> Month:
        hour = hour_of(at)
        return cls(hour.year, hour.month)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return dt.datetime(year, month, 1, tzinfo=dt.UTC)

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    def each_hour(self, until: dt.datetime | None = None) -> Iterator[dt.datetime]:
        """Every hour of the month, up to (not including) the hour of ``until``."""
        stop = self.end if until is None else min(self.end, hour_of(until))
        hour = self.start
        while hour < stop:
            yield hour
            hour += HOUR

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, slots=True, order=True)
class UsageKey:
    department: str
    site: str
    flavor: str
    kind: UsageKind
    resource: Resource


@dataclass(frozen=True, slots=True, order=True)
class UsageRow:
    """One hour's usage of one resource: ``quantity`` held through the hour (so a vCPU row of
    4 is 4 vCPU-hours)."""

    hour: dt.datetime
    department: str
    site: str
    flavor: str
    kind: UsageKind
    resource: Resource
    quantity: Decimal

    @property
    def key(self) -> UsageKey:
        return UsageKey(self.department, self.site, self.flavor, self.kind, self.resource)


@dataclass(frozen=True, slots=True)
class SiteHour:
    """Whether a site was read in an hour; ``reason`` says why not (state ``gap``)."""

    hour: dt.datetime
    site: str
    state: HourState
    reason: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class Gap:
    """An hour whose usage in ``site`` is unknown, and why (``no sync`` when nothing ran)."""

    hour: dt.datetime
    site: str
    reason: str


@dataclass(frozen=True, slots=True)
class ServerGroup:
    """Servers of one department, flavor and status in a site, with their summed sizes (what
    the sync's one grouped query returns)."""

    department: str | None
    flavor: str | None
    status: str
    servers: int
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True, slots=True)
class VolumeGroup:
    department: str | None
    size_gb: int


def _quantities(group: ServerGroup) -> tuple[tuple[Resource, Decimal], ...]:
    return ((Resource.SERVERS, Decimal(group.servers)), (Resource.VCPU, Decimal(group.vcpus)),
            (Resource.RAM_GIB, Decimal(group.ram_mb) / MIB_PER_GIB),
            (Resource.DISK_GB, Decimal(group.disk_gb)),
            (Resource.ACTIVE, Decimal(group.servers if group.status == "ACTIVE" else 0)))


def site_hour_totals(site: str, role: SiteRole, servers: Iterable[ServerGroup],
                     volumes: Iterable[VolumeGroup] = ()) -> dict[UsageKey, Decimal]:
    """One site's usage for one hour by key from its grouped servers and volumes (zero
    quantities are left out, but for ``active`` where servers exist):
    ``site_hour_usage`` without the rows, for the sync's metering, which compares them with
    the hour's stored ones."""
    totals: dict[UsageKey, Decimal] = defaultdict(Decimal)
    for g in servers:
        kind = usage_kind(role, g.status)
        for resource, quantity in _quantities(g):
            totals[UsageKey(g.department or UNASSIGNED, site, g.flavor or NO_FLAVOR, kind,
                            resource)] += quantity
    for v in volumes:
        totals[UsageKey(v.department or UNASSIGNED, site, NO_FLAVOR, UsageKind.PRIMARY,
                        Resource.VOLUME_GB)] += Decimal(v.size_gb)
    return {k: q for k, q in totals.items() if q or k.resource is Resource.ACTIVE}


def site_hour_usage(hour: dt.datetime, site: str, role: SiteRole,
                    servers: Iterable[ServerGroup],
                    volumes: Iterable[VolumeGroup] = ()) -> list[UsageRow]:
    """One site's usage for one hour from its grouped servers and volumes (zero quantities
    are left out, but for ``active`` where servers exist), sorted."""
    return sorted((UsageRow(hour, k.department, k.site, k.flavor, k.kind, k.resource, q)
                   for k, q in site_hour_totals(site, role, servers, volumes).items()),
                  key=_row_order)


def _row_order(row: UsageRow) -> tuple[object, ...]:
    """``UsageRow``'s own order as one tuple per row (sorting by it compares tuples once per
    pair, not a dataclass's generated ``__lt__`` building two)."""
    return (row.hour, row.department, row.site, row.flavor, row.kind, row.resource,
            row.quantity)


@dataclass(frozen=True, slots=True)
class ServerSpan:
    """A server as the store holds it, for a backfill: its sizes and when it existed."""

    department: str | None
    flavor: str | None
    status: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    created: dt.datetime
    deleted_at: dt.datetime | None


def backfill_site(month: Month, site: str, role: SiteRole, read_hours: Iterable[dt.datetime],
                  servers: Iterable[ServerSpan],
                  volumes: Iterable[VolumeGroup] = ()) -> list[UsageRow]:
    """A month's rollups of one site rebuilt from its servers' lifetimes: a server counts in
    every read hour it existed in at any moment (created before the hour's end, not deleted
    before its start), with its present flavor and status; volumes (no history is kept)
    count as they are now. Hours not in ``read_hours`` stay gaps. Deterministic: the same
    inputs give the same rows, in order."""
    read = sorted({hour_of(h) for h in read_hours if month.start <= h < month.end})
    if not read:
        return []
    index = {h: i for i, h in enumerate(month.each_hour())}
    spans: dict[ServerGroup, list[int]] = {}
    count = month.hours
    for s in servers:
        if s.created >= month.end:
            continue
        first = 0 if s.created < month.start else index[hour_of(s.created)]
        last = count if s.deleted_at is None or s.deleted_at >= month.end else \
            (index[hour_of(s.deleted_at)] + 1 if s.deleted_at >= month.start else 0)
        if first >= last:
            continue
        group = ServerGroup(s.department, s.flavor, s.status, 1, s.vcpus, s.ram_mb, s.disk_gb)
        diff = spans.setdefault(group, [0] * (count + 1))
        diff[first] += 1
        diff[last] -= 1
    alive: dict[ServerGroup, list[int]] = {}
    for group, diff in spans.items():
        running, out = 0, []
        for step in diff[:count]:
            running += step
            out.append(running)
        alive[group] = out
    vols = list(volumes)
    rows: list[UsageRow] = []
    for hour in read:
        i = index[hour]
        groups = [ServerGroup(g.department, g.flavor, g.status, n, g.vcpus * n, g.ram_mb * n,
                              g.disk_gb * n) for g, counts in alive.items()
                  if (n := counts[i])]
        rows += site_hour_usage(hour, site, role, groups, vols)
    return rows


def gaps(month: Month, sites: Iterable[str], hours: Iterable[SiteHour], *,
         until: dt.datetime | None = None) -> list[Gap]:
    """Every hour of ``month`` (up to ``until``) in which a site was not read: a recorded gap
    with its reason, or ``no sync`` when nothing was recorded for the hour."""
    stop = month.end if until is None else max(month.start, min(month.end, hour_of(until)))
    return gaps_between(month.start, stop, sites, hours)


def gaps_between(start: dt.datetime, end: dt.datetime, sites: Iterable[str],
                 hours: Iterable[SiteHour]) -> list[Gap]:
    """Every hour from ``start`` to ``end`` (exclusive, both on the hour) in which a site was
    not read, as ``gaps`` says (a filled hour is not a gap: its usage is known)."""
    known: Mapping[tuple[dt.datetime, str], SiteHour] = {(h.hour, h.site): h for h in hours}
    out: list[Gap] = []
    for site in sorted(set(sites)):
        hour = start
        while hour < end:
            h = known.get((hour, site))
            if h is None:
                out.append(Gap(hour, site, "no sync"))
            elif h.state is HourState.GAP:
                out.append(Gap(hour, site, h.reason or "the site could not be read"))
            hour += HOUR
    return out


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def backfill_window(start: dt.datetime, end: dt.datetime, *,
                    now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The hours a backfill from ``start`` to ``end`` covers: from ``start``'s hour up to
    ``end`` (exclusive; an hour ``end`` cuts counts whole), at most ``MAX_BACKFILL_HOURS``,
    and never the current hour or a later one (the syncs meter those). A time without a zone
    is UTC."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        raise InvalidInput(f"--to {end.isoformat()} is not after --from {start.isoformat()}",
                           hint="give a later --to, e.g. --from 2026-11-01 --to 2026-11-08")
    first = hour_of(start)
    last = hour_of(end) if end == hour_of(end) else hour_of(end) + HOUR
    count = int((last - first) / HOUR)
    if count > MAX_BACKFILL_HOURS:
        raise InvalidInput(f"{count} hours is longer than a backfill covers "
                           f"({MAX_BACKFILL_HOURS} hours, 31 days)",
                           hint="backfill a longer stretch in parts of at most 31 days")
    stop = min(last, hour_of(now))
    if stop <= first:
        raise InvalidInput(f"nothing to backfill: {first.isoformat()} is not before the "
                           f"current hour ({hour_of(now).isoformat()})",
                           hint="the syncs meter the current hour; backfill hours that are over")
    return first, stop


def months_between(start: dt.datetime, end: dt.datetime) -> list[Month]:
    """The months the hours from ``start`` to ``end`` (exclusive) fall in, in order."""
    out, month = [], Month.of(start)
    while month.start < end:
        out.append(month)
        month = Month.of(month.end)
    return out


def stored_quantity(resource: Resource, quantity: Decimal) -> int:
    """The whole number a quantity is stored as (RAM in MiB, the rest in their own unit), so
    the store keeps it exactly on every database and can sum it."""
    scaled = quantity * MIB_PER_GIB if resource is Resource.RAM_GIB else quantity
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"{resource.value} quantity {quantity} is not a whole "
                           f"{'MiB' if resource is Resource.RAM_GIB else 'unit'}")
    return int(scaled)


def from_stored(resource: Resource, stored: int) -> Decimal:
    """``stored_quantity``'s inverse."""
    value = Decimal(stored)
    return value / MIB_PER_GIB if resource is Resource.RAM_GIB else value


def totals(rows: Iterable[UsageRow]) -> dict[UsageKey, Decimal]:
    """Unit-hours per key over ``rows`` (a month's vCPU-hours per department and site, ...)."""
    out: dict[UsageKey, Decimal] = defaultdict(Decimal)
    for r in rows:
        out[r.key] += r.quantity
    return dict(out)
