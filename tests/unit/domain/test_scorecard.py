"""The operator scorecard (issue 20), pure: each figure against a hand calculation, with its
target and mark; no data is no mark, never a pass."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from govcloud.domain.metering import HourState, Month, SiteHour
from govcloud.domain.scorecard import (
    DrState,
    RequestTimes,
    SiteCapacity,
    availability,
    capacity,
    dr,
    fulfilment,
    nearest_rank,
)

NOV = Month(2026, 11)
H = dt.timedelta(hours=1)
END = NOV.end + dt.timedelta(days=3)


def marks(figures: list) -> list[tuple[str, str, bool | None]]:  # type: ignore[type-arg]
    return [(f.name, f.value, f.met) for f in figures]


def test_availability_counts_tried_hours_only() -> None:
    hours = [SiteHour(NOV.start + i * H, "PROD", HourState.READ) for i in range(199)]
    hours.append(SiteHour(NOV.start + 199 * H, "PROD", HourState.GAP, "timeout"))
    hours += [SiteHour(NOV.start + i * H, "DR", HourState.READ) for i in range(720)]
    out = availability(NOV, ["PROD", "DR", "CITY"], hours, until=END, target=Decimal("99.5"))
    assert marks(out) == [("CITY API", "-", None), ("DR API", "100 %", True),
                          ("PROD API", "99.5 %", True)]  # 199 of 200
    assert out[2].detail == "199 h read, 1 h failed, 520 h not tried"
    hours.append(SiteHour(NOV.start + 200 * H, "PROD", HourState.GAP, "timeout"))
    assert marks(availability(NOV, ["PROD"], hours, until=END, target=Decimal("99.5"))) == [
        ("PROD API", "99 %", False)]  # 199 of 201: 99.005


def test_fulfilment_percentiles_and_breaches() -> None:
    start = NOV.start + dt.timedelta(days=2)
    done = [RequestTimes(start, start + h * H, True) for h in (1, 2, 3, 4, 100)]
    out = fulfilment(NOV, [
        *done,
        RequestTimes(NOV.end - 10 * H, None, False),  # open 10 h at the month's end: fine
        RequestTimes(NOV.end - 80 * H, None, False),  # open 80 h: a breach
        RequestTimes(start, None, True),  # rejected or cancelled: not counted
        RequestTimes(start - 40 * 24 * H, NOV.start - H, True),  # done in October
    ], until=END, target_hours=Decimal(72))
    assert marks(out) == [("requests done", "5", None), ("fulfilment p50", "3 h", True),
                          ("fulfilment p95", "100 h", False), ("breaches", "2", False)]
    assert out[-1].detail == "1 done late, 1 open longer than the target"
    assert nearest_rank([Decimal(x) for x in range(1, 21)], 95) == 19
    none = fulfilment(NOV, [], until=END, target_hours=Decimal(72))
    assert marks(none)[1:] == [("fulfilment p50", "-", None), ("fulfilment p95", "-", None),
                               ("breaches", "0", True)]


def test_dr_figures() -> None:
    assert marks(dr(DrState(10, 8, 1, 1, 2, 3, 0))) == [
        ("systems compliant", "8 of 10", False), ("drills overdue", "2", False),
        ("drills held in the month", "3", True)]
    assert marks(dr(DrState(2, 2, 0, 0, 0, 0, 1)))[2] == ("drills held in the month", "1",
                                                          False)
    assert marks(dr(DrState(0, 0, 0, 0, 0, 0, 0))) == [("systems compliant", "0 of 0", None)]
    assert dr(None)[0].met is None


def test_capacity_headroom_and_days_to_full() -> None:
    out = capacity([SiteCapacity("PROD", 1000, 150, 45.06, "fills"),
                    SiteCapacity("DR", 400, 200, None, "not-growing"),
                    SiteCapacity("CITY", 0, 0, None, "not-enough-history")],
                   headroom_pct=Decimal(20), days_to_full=Decimal(90))
    assert marks(out) == [
        ("CITY vCPU headroom", "-", None), ("CITY days to full", "-", None),
        ("DR vCPU headroom", "50 %", True), ("DR days to full", "never", True),
        ("PROD vCPU headroom", "15 %", False), ("PROD days to full", "45.1", False)]
