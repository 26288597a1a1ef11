"""Rating a month: a hand-computable scenario priced line by line, the sheet in effect per
day, and (hypothesis) totals that reconcile to the cent whatever the usage."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govcloud.domain.metering import Month, Resource, UsageKind, UsageRow
from govcloud.domain.prices import PriceSheet, SitePrices, Unit
from govcloud.domain.rating import CENT, rate_month
from govcloud.errors import InvalidInput

NOV = Month(2026, 11)
D = Decimal
SHEET = PriceSheet(
    "2026.1", dt.date(2026, 1, 1), "CNY",
    {Unit.VCPU_HOUR: D("0.08"), Unit.RAM_GIB_HOUR: D("0.02"), Unit.DISK_GB_HOUR: D("0.0001"),
     Unit.VOLUME_GB_MONTH: D("0.35")},
    flavors={"m1.large": D("0.45")},
    copy_kinds={UsageKind.WARM: D("0.6"), UsageKind.COLD: D("0.1")},
    dr_levels={5: D("1.2")},
    sites={"DR-REMOTE": SitePrices({Unit.VCPU_HOUR: D("0.07")})})


def hours(n: int, start: dt.datetime = NOV.start) -> list[dt.datetime]:
    return [start + dt.timedelta(hours=h) for h in range(n)]


def servers(dept: str, site: str, flavor: str, kind: UsageKind, n: int, vcpus: int,
            ram_gib: int, disk: int, for_hours: list[dt.datetime]) -> list[UsageRow]:
    sizes = {Resource.SERVERS: n, Resource.VCPU: n * vcpus, Resource.RAM_GIB: n * ram_gib,
             Resource.DISK_GB: n * disk}
    return [UsageRow(h, dept, site, flavor, kind, r, D(q)) for h in for_hours
            for r, q in sizes.items()]


def test_a_hand_computed_month() -> None:
    ten = hours(10)
    rows = (servers("gd-tax", "PROD", "m1.small", UsageKind.PRIMARY, 2, 1, 2, 20, ten)
            + servers("gd-tax", "PROD", "m1.large", UsageKind.PRIMARY, 1, 4, 8, 80, ten)
            + servers("gd-tax", "DR-REMOTE", "m1.small", UsageKind.COLD, 1, 1, 2, 20, ten)
            + [UsageRow(h, "gd-tax", "PROD", "", UsageKind.PRIMARY, Resource.VOLUME_GB,
                        D(100)) for h in hours(720)]
            + [UsageRow(NOV.start, "gd-x", "PROD", "m1.tiny", UsageKind.PRIMARY,
                        Resource.VCPU, D(1))])
    rating = rate_month(NOV, rows, [SHEET], {"gd-tax": 5})
    got = {(ln.department, ln.site, ln.flavor, ln.resource): (ln.base, ln.surcharge)
           for ln in rating.lines}
    assert got == {
        # 2 small servers x 10 h: 20 vCPU-h x 0.08, 40 GiB-h x 0.02, 400 GB-h x 0.0001; +20 %
        ("gd-tax", "PROD", "m1.small", "vcpu"): (D("1.60"), D("0.32")),
        ("gd-tax", "PROD", "m1.small", "ram_gib"): (D("0.80"), D("0.16")),
        ("gd-tax", "PROD", "m1.small", "disk_gb"): (D("0.04"), D("0.01")),  # 0.008 -> 0.01
        # a priced flavor: 10 server-hours x 0.45, its vCPU/RAM/disk not charged again
        ("gd-tax", "PROD", "m1.large", "servers"): (D("4.50"), D("0.90")),
        # a cold copy at a tenth, with DR-REMOTE's own vCPU price: 10 x 0.07 x 0.1
        ("gd-tax", "DR-REMOTE", "m1.small", "vcpu"): (D("0.07"), D("0.01")),
        ("gd-tax", "DR-REMOTE", "m1.small", "ram_gib"): (D("0.04"), D("0.01")),
        ("gd-tax", "DR-REMOTE", "m1.small", "disk_gb"): (D("0.00"), D("0.00")),
        # 100 GB all month = 100 GB-months x 0.35
        ("gd-tax", "PROD", "", "volume_gb"): (D("35.00"), D("7.00")),
        # no DR level known: no surcharge
        ("gd-x", "PROD", "m1.tiny", "vcpu"): (D("0.08"), D("0.00")),
    }
    assert rating.by_department() == {"gd-tax": D("50.46"), "gd-x": D("0.08")}
    assert rating.total == D("50.54") and rating.sheets == ("2026.1",)
    cold = next(ln for ln in rating.lines if ln.kind == "cold" and ln.resource == "vcpu")
    assert (cold.quantity, cold.unit, cold.price) == (D(10), "vcpu_hour", D("0.07"))


def test_each_day_is_priced_with_the_sheet_in_effect() -> None:
    cheaper = PriceSheet("2026.2", dt.date(2026, 11, 16), "CNY",
                         {**SHEET.units, Unit.VCPU_HOUR: D("0.04")})
    first = replace(SHEET, effective_until=dt.date(2026, 11, 15))
    rows = [UsageRow(h, "gd-tax", "PROD", "m1.small", UsageKind.PRIMARY, Resource.VCPU, D(1))
            for h in hours(720)]
    rating = rate_month(NOV, rows, [first, cheaper], {})
    assert [(ln.sheet, ln.quantity, ln.amount) for ln in rating.lines] == [
        ("2026.1", D(360), D("28.80")), ("2026.2", D(360), D("14.40"))]
    assert rating.sheets == ("2026.1", "2026.2")
    with pytest.raises(InvalidInput, match="no approved price sheet is in effect on 2026-11-16"):
        rate_month(NOV, rows, [first], {})


KEYS = st.tuples(st.sampled_from(["gd-tax", "gd-psd", "shenzhen", ""]),
                 st.sampled_from(["PROD", "DR-LOCAL", "DR-REMOTE"]),
                 st.sampled_from(["m1.small", "m1.large", ""]),
                 st.sampled_from(list(UsageKind)), st.sampled_from(list(Resource)))
ROWS = st.lists(st.tuples(st.integers(0, NOV.hours - 1), KEYS,
                          st.decimals(min_value=0, max_value=10_000, places=4)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ROWS)
def test_totals_reconcile_to_the_cent_in_any_order(raw: list[Any]) -> None:
    rows = [UsageRow(NOV.start + dt.timedelta(hours=h), *key, q) for h, key, q in raw]
    rating = rate_month(NOV, rows, [SHEET], {"gd-tax": 5, "gd-psd": 3})
    assert rating.total == sum((ln.base + ln.surcharge for ln in rating.lines), D(0))
    assert rating.total == sum(rating.by_department().values(), D(0))
    assert all(ln.base == ln.base.quantize(CENT) and ln.surcharge >= 0 for ln in rating.lines)
    assert rate_month(NOV, list(reversed(rows)), [SHEET], {"gd-tax": 5}).lines == \
        rate_month(NOV, rows, [SHEET], {"gd-tax": 5}).lines
    # each line is within half a cent (twice: base and surcharge) of its exact amount
    exact = sum((ln.quantity * ln.price for ln in rating.lines if ln.kind == "primary"
                 and ln.unit != "volume_gb_month" and ln.department not in ("gd-tax", "gd-psd")),
                D(0))
    rounded = sum((ln.amount for ln in rating.lines if ln.kind == "primary"
                   and ln.unit != "volume_gb_month" and ln.department not in ("gd-tax", "gd-psd")),
                  D(0))
    assert abs(exact - rounded) <= D("0.005") * len(rating.lines)
