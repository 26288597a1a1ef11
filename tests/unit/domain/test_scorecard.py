"""The operator scorecard (issue 20), pure: each figure against a hand calculation, with its
target and mark; no data is no mark, never a pass; migration waves against their windows,
alerts from the failures recorded (a DR copy failing lasts until its next good point), each
department's ACTIVE server-hours shown and not judged, and what is as of now said so."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from govcloud.domain.metering import HourState, Month, SiteHour
from govcloud.domain.scorecard import (
    AlertSource,
    DrState,
    Incident,
    PointOutcome,
    RequestTimes,
    ServerHours,
    SiteCapacity,
    WaveProgress,
    alerts,
    availability,
    capacity,
    compute_availability,
    dr,
    fulfilment,
    migration,
    nearest_rank,
    protection_incidents,
    server_availability,
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


def test_compute_availability_is_the_share_of_host_syncs_up() -> None:
    samples = [("PROD", 4, 4), ("PROD", 4, 3), ("PROD", 3, 3),  # a host in maintenance: 3
               ("DR-LOCAL", 2, 2), ("ELSEWHERE", 5, 0)]  # a site not asked about
    got = compute_availability(["PROD", "DR-LOCAL", "DR-REMOTE"], samples,
                               target=Decimal("99.5"))
    assert marks(got) == [("DR-LOCAL compute", "100 %", True),
                          ("DR-REMOTE compute", "-", None),
                          ("PROD compute", "90.91 %", False)]  # 10 of 11
    assert got[2].detail == "10 of 11 host-syncs up, 3 syncs"
    assert got[1].detail == "no compute host counted by a sync this month"


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
    assert all("as of now" in f.detail for f in out)  # unless told otherwise
    ended = capacity([SiteCapacity("PROD", 1000, 150, 45.06, "fills", "2026-11-30 23:40 UTC")],
                     headroom_pct=Decimal(20), days_to_full=Decimal(90))
    assert ended[0].detail == "150 of 1000 vCPU free, as of 2026-11-30 23:40 UTC"


def wave(number: int, systems: int, migrated: int, window_end: dt.datetime,
         department: str = "gd-tax") -> WaveProgress:
    return WaveProgress(department, number, number == 1, window_end, "done", systems,
                        migrated, systems * 2, migrated * 2)


def test_migration_waves_are_judged_once_their_window_ended() -> None:
    out = migration(NOV, [wave(2, 3, 2, NOV.start + 10 * 24 * H),
                          wave(1, 1, 1, NOV.start + 3 * 24 * H),
                          wave(3, 4, 1, NOV.end + 24 * H),
                          wave(1, 2, 0, NOV.end, department="gd-edu")])
    assert marks(out) == [
        ("gd-edu wave 1 (rehearsal)", "0 of 2 systems", False),  # ends at the month's end
        ("gd-tax wave 1 (rehearsal)", "1 of 1 systems", True),
        ("gd-tax wave 2", "2 of 3 systems", False),
        ("gd-tax wave 3", "1 of 4 systems", None)]  # its window ends after the month
    assert out[2].target == "3 by 2026-11-11 00:00"
    assert out[2].detail == "4 of 6 hosts by the month's end; wave done"
    assert out[3].detail.endswith("its window ends after the month")
    assert marks(migration(NOV, [])) == [("waves", "0", None)]


def test_a_copy_failing_lasts_until_its_next_good_point() -> None:
    t = NOV.start + 24 * H

    def point(h: int, ok: bool, server: str = "c1", dept: str = "gd-tax") -> PointOutcome:
        return PointOutcome(dept, "DR", server, t + h * H, ok)

    got = protection_incidents([point(0, True), point(1, False), point(2, False),
                                point(5, True), point(6, False), point(3, False, "c2")])
    assert [(i.start - t, None if i.end is None else i.end - t) for i in got] == [
        (1 * H, 5 * H), (3 * H, None), (6 * H, None)]
    assert protection_incidents([point(-30 * 24, False), point(1, False)])[0].start == \
        t - 30 * 24 * H  # failing since before: began then, not in the month


def test_alerts_per_department_with_the_longest_duration() -> None:
    t = NOV.start + 24 * H
    out = alerts(NOV, [
        Incident("gd-tax", AlertSource.PROTECTION, t, t + 5 * H + H / 2, lasts=True),
        Incident("gd-tax", AlertSource.PROTECTION, NOV.end - 2 * H, None, lasts=True),
        Incident("gd-tax", AlertSource.DRILL, t),
        Incident("gd-edu", AlertSource.MIGRATION, t),
        Incident("gd-psd", AlertSource.PROTECTION, NOV.start - H, None, lasts=True),  # October
        Incident("gd-psd", AlertSource.DRILL, NOV.end)],  # December
        until=END)
    assert marks(out) == [("gd-edu alerts", "1", False), ("gd-tax alerts", "3", False)]
    assert out[1].detail == "2 DR protection failing; 1 drill failed; longest 5.5 h"
    assert out[0].target == "0" and out[0].detail == "1 migration step failed"
    short = alerts(NOV, [Incident("gd-tax", AlertSource.PROTECTION, NOV.end - 2 * H, None,
                                  lasts=True)], until=END)
    assert short[0].detail.endswith("longest 2 h (still failing at the month's end)")
    assert marks(alerts(NOV, [], until=END)) == [("alerts fired", "0", True)]


def test_each_departments_active_server_hours_are_shown_not_judged() -> None:
    out = server_availability([ServerHours("gd-tax", 1440, 1437), ServerHours("", 10, 10),
                               ServerHours("gd-edu", 0, 0)])
    assert marks(out) == [("(no department) servers ACTIVE", "100 %", None),
                          ("gd-edu servers ACTIVE", "-", None),
                          ("gd-tax servers ACTIVE", "99.79 %", None)]
    assert out[2].detail.startswith("1437 of 1440 server-hours ACTIVE")
    assert all(f.target == "-" for f in out)
