"""The operator scorecard (issue 20): what the bureau assesses the operating company on for a
month, each figure with its target and a met / missed mark (``None``: no data to judge).

* **availability** per site: the hours the site's APIs answered the inventory sync, out of
  the hours it was tried (a recorded gap is a failed hour; an hour nobody tried — govcloud
  itself was not running — is unknown and left out, and counted);
* **request fulfilment**: submitted → done, in hours, p50 and p95 (nearest rank) of the
  requests done in the month, and how many breached the target (done later than it, or still
  open longer than it at the month's end);
* **DR**: systems compliant (the posture as judged now), drills overdue, drills held in the
  month and how many failed;
* **capacity** per site: vCPU headroom (free on working hosts, of the capacity) and the days
  until the vCPU allocation fills it at its trend.

Percentages and hours are decimals written as text, rounded half-even.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from govcloud.domain.metering import HourState, Month, SiteHour

HOUR_S = Decimal(3600)


@dataclass(frozen=True, slots=True)
class Targets:
    availability_pct: Decimal = Decimal("99.5")
    fulfilment_hours: Decimal = Decimal(72)
    headroom_pct: Decimal = Decimal(20)
    days_to_full: Decimal = Decimal(90)

    def to_dict(self) -> dict[str, str]:
        return {"availability_pct": _num(self.availability_pct),
                "fulfilment_hours": _num(self.fulfilment_hours),
                "headroom_pct": _num(self.headroom_pct),
                "days_to_full": _num(self.days_to_full)}


@dataclass(frozen=True, slots=True)
class Figure:
    section: str  # availability, requests, dr, capacity
    name: str
    value: str
    target: str
    met: bool | None  # None: nothing to judge
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "value": self.value,
                "target": self.target, "met": self.met, "detail": self.detail}


def _num(value: Decimal, places: str = "0.01") -> str:
    out = format(value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN), "f")
    return out.rstrip("0").rstrip(".") if "." in out else out


def availability(month: Month, sites: Iterable[str], hours: Iterable[SiteHour], *,
                 until: dt.datetime, target: Decimal) -> list[Figure]:
    by_site: dict[str, dict[HourState, int]] = {s: {HourState.READ: 0, HourState.GAP: 0}
                                               for s in sites}
    for h in hours:  # a filled hour was read (a backfill computed its usage afterwards)
        if h.site in by_site and month.start <= h.hour < month.end:
            by_site[h.site][HourState.GAP if h.state is HourState.GAP else HourState.READ] += 1
    elapsed = sum(1 for _ in month.each_hour(until))
    out = []
    for site, counts in sorted(by_site.items()):
        read, failed = counts[HourState.READ], counts[HourState.GAP]
        unknown = max(elapsed - read - failed, 0)
        detail = f"{read} h read, {failed} h failed, {unknown} h not tried"
        if read + failed == 0:
            out.append(Figure("availability", f"{site} API", "-", f">= {_num(target)} %",
                              None, detail))
            continue
        pct = Decimal(read * 100) / Decimal(read + failed)
        out.append(Figure("availability", f"{site} API", f"{_num(pct)} %",
                          f">= {_num(target)} %", pct >= target, detail))
    return out


@dataclass(frozen=True, slots=True)
class RequestTimes:
    created: dt.datetime
    finished: dt.datetime | None  # when it was done; None while open or if it ended otherwise
    final: bool


def nearest_rank(values: Sequence[Decimal], pct: int) -> Decimal:
    ordered = sorted(values)
    return ordered[max(math.ceil(pct * len(ordered) / 100), 1) - 1]


def fulfilment(month: Month, requests: Iterable[RequestTimes], *, until: dt.datetime,
               target_hours: Decimal) -> list[Figure]:
    end = min(month.end, until)
    done: list[Decimal] = []
    late_open = 0
    for r in requests:
        if r.finished is not None and month.start <= r.finished < month.end:
            done.append(Decimal(int((r.finished - r.created).total_seconds())) / HOUR_S)
        elif not r.final and r.created < end and \
                Decimal(int((end - r.created).total_seconds())) / HOUR_S > target_hours:
            late_open += 1
    late_done = sum(1 for d in done if d > target_hours)
    target = f"<= {_num(target_hours)} h"
    out = [Figure("requests", "requests done", str(len(done)), "-", None)]
    if done:
        p50, p95 = nearest_rank(done, 50), nearest_rank(done, 95)
        out += [Figure("requests", "fulfilment p50", f"{_num(p50, '0.1')} h", target,
                       p50 <= target_hours),
                Figure("requests", "fulfilment p95", f"{_num(p95, '0.1')} h", target,
                       p95 <= target_hours)]
    else:
        out += [Figure("requests", p, "-", target, None, "no request was done in the month")
                for p in ("fulfilment p50", "fulfilment p95")]
    out.append(Figure("requests", "breaches", str(late_done + late_open), "0",
                      late_done + late_open == 0,
                      f"{late_done} done late, {late_open} open longer than the target"))
    return out


@dataclass(frozen=True, slots=True)
class DrState:
    systems: int
    compliant: int
    at_risk: int
    non_compliant: int
    drills_overdue: int
    drills_passed: int  # held in the month
    drills_failed: int


def dr(state: DrState | None) -> list[Figure]:
    if state is None:
        return [Figure("dr", "DR posture", "-", "-", None,
                       "no DR posture could be judged (docs/dr.md)")]
    if state.systems == 0:
        return [Figure("dr", "systems compliant", "0 of 0", "all", None,
                       "no system is under DR protection yet")]
    held = state.drills_passed + state.drills_failed
    return [
        Figure("dr", "systems compliant", f"{state.compliant} of {state.systems}", "all",
               state.compliant == state.systems,
               f"{state.at_risk} at risk, {state.non_compliant} non-compliant (judged now)"),
        Figure("dr", "drills overdue", str(state.drills_overdue), "0",
               state.drills_overdue == 0, "judged now"),
        Figure("dr", "drills held in the month", str(held), "every one passes",
               None if held == 0 else state.drills_failed == 0,
               f"{state.drills_passed} passed, {state.drills_failed} failed"),
    ]


@dataclass(frozen=True, slots=True)
class SiteCapacity:
    site: str
    vcpus: int  # capacity after allocation ratios
    headroom: int  # free on working hosts
    days_to_full: float | None  # None: not filling (or too few samples)
    forecast: str  # the forecast's status (domain.forecast.ForecastStatus)


def capacity(sites: Iterable[SiteCapacity], *, headroom_pct: Decimal,
             days_to_full: Decimal) -> list[Figure]:
    out = []
    for s in sorted(sites, key=lambda s: s.site):
        if s.vcpus <= 0:
            out.append(Figure("capacity", f"{s.site} vCPU headroom", "-",
                              f">= {_num(headroom_pct)} %", None, "no capacity known"))
        else:
            pct = Decimal(s.headroom * 100) / Decimal(s.vcpus)
            out.append(Figure("capacity", f"{s.site} vCPU headroom", f"{_num(pct)} %",
                              f">= {_num(headroom_pct)} %", pct >= headroom_pct,
                              f"{s.headroom} of {s.vcpus} vCPU free"))
        days = None if s.days_to_full is None else Decimal(str(round(s.days_to_full, 1)))
        name, target = f"{s.site} days to full", f">= {_num(days_to_full)}"
        if s.forecast == "not-growing":
            out.append(Figure("capacity", name, "never", target, True, "not growing"))
        elif days is None:
            out.append(Figure("capacity", name, "-", target, None, s.forecast))
        else:
            out.append(Figure("capacity", name, _num(days, "0.1"), target,
                              days >= days_to_full, s.forecast))
    return out
