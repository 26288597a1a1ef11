"""Hourly usage rollups: a site's grouped servers become one row per department, flavor, kind
and resource; copies are told apart by site role and status; gaps are hours not read, never
zero; a backfill from servers' lifetimes is deterministic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from govcloud.domain.metering import (
    MAX_BACKFILL_HOURS,
    Gap,
    HourState,
    Month,
    Resource,
    ServerGroup,
    ServerSpan,
    SiteHour,
    UsageKind,
    VolumeGroup,
    backfill_site,
    backfill_window,
    gaps,
    gaps_between,
    hour_of,
    months_between,
    site_hour_totals,
    site_hour_usage,
    totals,
    usage_kind,
)
from govcloud.domain.sites import SiteRole
from govcloud.errors import InvalidInput

NOV = Month(2026, 11)
H0 = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)
HOUR_ = dt.timedelta(hours=1)


def test_a_month_parses_and_knows_its_hours() -> None:
    assert Month.parse("2026-11") == NOV and str(NOV) == "2026-11"
    assert NOV.hours == 720 and Month(2026, 12).end == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert Month(2028, 2).hours == 29 * 24
    for bad in ("2026-13", "2026-1", "26-11", "", "2026-11-01"):
        with pytest.raises(InvalidInput, match="is not a month"):
            Month.parse(bad)
    assert len(list(NOV.each_hour(until=NOV.start + dt.timedelta(hours=5, minutes=30)))) == 5


def test_the_hour_is_utc_and_needs_a_zone() -> None:
    east8 = dt.timezone(dt.timedelta(hours=8))
    assert hour_of(dt.datetime(2026, 11, 3, 18, 59, tzinfo=east8)) == H0
    with pytest.raises(InvalidInput, match="no time zone"):
        hour_of(dt.datetime(2026, 11, 3, 10))


@pytest.mark.parametrize(("role", "status", "kind"), [
    (SiteRole.PRODUCTION, "SHELVED_OFFLOADED", UsageKind.PRIMARY),
    (SiteRole.CITY, "ACTIVE", UsageKind.PRIMARY),
    (SiteRole.SAME_CITY_DR, "ACTIVE", UsageKind.HOT),
    (SiteRole.SAME_CITY_DR, "SHUTOFF", UsageKind.WARM),
    (SiteRole.REMOTE_DR, "SHELVED_OFFLOADED", UsageKind.COLD),
    (SiteRole.REMOTE_DR, "SHELVED", UsageKind.COLD),
    (SiteRole.REMOTE_DR, "ERROR", UsageKind.WARM),
])
def test_a_copy_kind_comes_from_the_site_role_and_status(role: SiteRole, status: str,
                                                         kind: UsageKind) -> None:
    assert usage_kind(role, status) is kind


def test_grouped_servers_and_volumes_become_one_row_per_key() -> None:
    rows = site_hour_usage(H0, "DR-LOCAL", SiteRole.SAME_CITY_DR, [
        ServerGroup("gd-tax", "m1.small", "ACTIVE", 2, 2, 4096, 40),
        ServerGroup("gd-tax", "m1.small", "SHUTOFF", 1, 1, 512, 20),
        ServerGroup(None, None, "ACTIVE", 1, 4, 1000, 0),
    ], [VolumeGroup("gd-tax", 100), VolumeGroup("gd-tax", 50), VolumeGroup("gd-psd", 0)])
    got = {(r.department, r.flavor, r.kind.value, r.resource.value): r.quantity for r in rows}
    assert got == {
        ("gd-tax", "m1.small", "hot", "servers"): 2, ("gd-tax", "m1.small", "hot", "vcpu"): 2,
        ("gd-tax", "m1.small", "hot", "ram_gib"): 4, ("gd-tax", "m1.small", "hot", "disk_gb"): 40,
        ("gd-tax", "m1.small", "warm", "servers"): 1, ("gd-tax", "m1.small", "warm", "vcpu"): 1,
        ("gd-tax", "m1.small", "warm", "ram_gib"): Decimal("0.5"),
        ("gd-tax", "m1.small", "warm", "disk_gb"): 20,
        ("", "", "hot", "servers"): 1, ("", "", "hot", "vcpu"): 4,
        ("", "", "hot", "ram_gib"): Decimal("0.9765625"),  # 1000 MiB, exactly
        ("gd-tax", "", "primary", "volume_gb"): 150,
        # the ACTIVE servers (not billed), kept at zero where servers exist and none is
        ("gd-tax", "m1.small", "hot", "active"): 2, ("gd-tax", "m1.small", "warm", "active"): 0,
        ("", "", "hot", "active"): 1,
    }
    assert all(r.hour == H0 and r.site == "DR-LOCAL" for r in rows) and rows == sorted(rows)


def test_an_hour_not_read_is_a_gap_with_its_reason_never_zero() -> None:
    day = Month(2026, 11)
    until = day.start + dt.timedelta(hours=3)
    hours = [SiteHour(day.start, "PROD", HourState.READ),
             SiteHour(day.start + dt.timedelta(hours=1), "PROD", HourState.GAP, "HTTP 503"),
             SiteHour(day.start, "DR-LOCAL", HourState.READ),
             SiteHour(day.start + dt.timedelta(hours=1), "DR-LOCAL", HourState.READ),
             SiteHour(day.start + dt.timedelta(hours=2), "DR-LOCAL", HourState.READ)]
    assert gaps(day, ["PROD", "DR-LOCAL"], hours, until=until) == [
        Gap(day.start + dt.timedelta(hours=1), "PROD", "HTTP 503"),
        Gap(day.start + dt.timedelta(hours=2), "PROD", "no sync")]


def span(created: dt.datetime, deleted: dt.datetime | None = None, *,
         status: str = "ACTIVE") -> ServerSpan:
    return ServerSpan("gd-tax", "m1.small", status, 1, 2048, 20, created, deleted)


def test_a_backfill_counts_each_read_hour_a_server_existed_in() -> None:
    start = NOV.start
    read = [start + dt.timedelta(hours=h) for h in (0, 1, 2, 3, 5)]  # hour 4 not read
    servers = [span(start - dt.timedelta(days=3)),  # every hour
               span(start + dt.timedelta(hours=1, minutes=30),  # hours 1..3
                    start + dt.timedelta(hours=3, minutes=10)),
               span(start - dt.timedelta(days=40), start - dt.timedelta(days=31)),  # never
               span(NOV.end + dt.timedelta(hours=1))]  # next month
    rows = backfill_site(NOV, "PROD", SiteRole.PRODUCTION, read, servers,
                         [VolumeGroup("gd-tax", 10)])
    per_hour = {r.hour: r.quantity for r in rows if r.resource is Resource.SERVERS}
    assert per_hour == {read[0]: 1, read[1]: 2, read[2]: 2, read[3]: 2, read[4]: 1}
    assert {r.hour for r in rows if r.resource is Resource.VOLUME_GB} == set(read)
    again = backfill_site(NOV, "PROD", SiteRole.PRODUCTION, list(reversed(read)),
                          list(reversed(servers)), [VolumeGroup("gd-tax", 10)])
    assert again == rows  # the same figures, whatever order the store hands them in
    month = totals(rows)
    assert sum(q for k, q in month.items() if k.resource is Resource.VCPU) == 8


def test_a_backfill_with_no_hour_read_is_empty() -> None:
    assert backfill_site(NOV, "PROD", SiteRole.PRODUCTION, [], [span(NOV.start)]) == []


NOW = dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC)


def test_a_backfill_window_is_whole_hours_before_the_current_one() -> None:
    assert backfill_window(H0 + dt.timedelta(minutes=20), H0 + dt.timedelta(hours=2, minutes=1),
                           now=NOW) == (H0, H0 + dt.timedelta(hours=3))
    naive = dt.datetime(2026, 11, 3, 10)  # no zone: UTC
    assert backfill_window(naive, naive + dt.timedelta(hours=1), now=NOW) == (
        H0, H0 + dt.timedelta(hours=1))
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert backfill_window(dt.datetime(2026, 11, 3, 18, tzinfo=beijing), H0 + HOUR_,
                           now=NOW)[0] == H0
    assert backfill_window(H0, NOW + dt.timedelta(days=1), now=NOW) == (
        H0, dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC))  # up to the current hour
    longest = backfill_window(NOV.start, NOV.start + MAX_BACKFILL_HOURS * HOUR_, now=NOW)
    assert longest[1] - longest[0] == dt.timedelta(days=31)


@pytest.mark.parametrize(("start", "end", "match"), [
    (H0, H0, "is not after"),
    (H0, H0 - dt.timedelta(seconds=1), "is not after"),
    (H0, H0 + (MAX_BACKFILL_HOURS + 1) * dt.timedelta(hours=1), "745 hours is longer"),
    (NOW, NOW + dt.timedelta(hours=2), "nothing to backfill"),
    (NOW.replace(minute=0), NOW, "nothing to backfill"),
])
def test_a_bad_backfill_window_says_why(start: dt.datetime, end: dt.datetime,
                                         match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        backfill_window(start, end, now=NOW)
    assert info.value.hint


def test_months_between_and_gaps_between() -> None:
    assert months_between(NOV.start - HOUR_, NOV.end + HOUR_) == [
        Month(2026, 10), NOV, Month(2026, 12)]
    assert months_between(H0, H0 + HOUR_) == [NOV]
    hours = [SiteHour(H0, "PROD", HourState.FILLED, "filled"),
             SiteHour(H0 + HOUR_, "PROD", HourState.GAP, "timeout")]
    assert gaps_between(H0, H0 + 3 * HOUR_, ["PROD"], hours) == [
        Gap(H0 + HOUR_, "PROD", "timeout"), Gap(H0 + 2 * HOUR_, "PROD", "no sync")]


def test_site_hour_totals_are_the_rows_without_hours() -> None:
    servers = [ServerGroup("gd-tax", "m1.small", "ACTIVE", 2, 2, 4096, 40),
               ServerGroup(None, None, "SHUTOFF", 1, 1, 512, 0)]
    rows = site_hour_usage(H0, "DR-LOCAL", SiteRole.SAME_CITY_DR, servers,
                           [VolumeGroup("gd-tax", 5)])
    assert {r.key: r.quantity for r in rows} == site_hour_totals(
        "DR-LOCAL", SiteRole.SAME_CITY_DR, servers, [VolumeGroup("gd-tax", 5)])
    assert rows == sorted(rows)  # the key sort keeps the rows' own order
