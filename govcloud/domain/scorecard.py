"""The operator scorecard (issue 20): what the bureau assesses the operating company on for a
month, each figure with its target and a met / missed mark (``None``: no data to judge).

* **availability** per site: the hours the site's APIs answered the inventory sync, out of
  the hours it was tried (a recorded gap is a failed hour; an hour nobody tried — govcloud
  itself was not running — is unknown and left out, and counted);
* **request fulfilment**: submitted → done, in hours, p50 and p95 (nearest rank) of the
  requests done in the month, and how many breached the target (done later than it, or still
  open longer than it at the month's end);
* **DR**: systems compliant and drills overdue — as of the month's end for a month that is
  over (the recovery points and drills up to then), as of now for the current month — drills
  held in the month and how many failed;
* **capacity** per site: vCPU headroom (of the capacity) and the days until the vCPU
  allocation fills it at its trend — as of the month's end for a month that is over (its last
  capacity sample and the samples before it), as of now for the current month;
* **migration** per department and wave: systems migrated by the month's end of those the
  wave plans, against its window;
* **alerts** per department: the failures govcloud records with their time, which are what
  the per-department alert rules fire on (a DR copy's protection failing, from its failed
  recovery point to the next good one; a drill failed; a migration step's job or run
  failed); and per alertname, the episodes of Prometheus' alerts that Alertmanager (or
  Prometheus) posted to govcloud (``domain.alert_history``), with how long they fired in
  the month;
* **availability** per department too: the share of its server-hours (primary copies, hours
  metered) in which the server was ACTIVE — shown, not judged (a department may stop its own
  servers).

Percentages and hours are decimals written as text, rounded half-even.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from govcloud.domain.alert_history import Fired
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
    section: str  # availability, requests, migration, dr, capacity, alerts
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


def compute_availability(sites: Iterable[str], samples: Iterable[tuple[str, int, int]], *,
                         target: Decimal) -> list[Figure]:
    """Per site, the share of its compute hosts in service whose nova-compute service was up,
    over the month's syncs (``samples``: site, hosts in service, hosts up — one per sync; a
    host in maintenance is in none of them)."""
    totals: dict[str, list[int]] = {s: [0, 0, 0] for s in sites}
    for site, in_service, up in samples:
        if site in totals:
            t = totals[site]
            t[0], t[1], t[2] = t[0] + in_service, t[1] + up, t[2] + 1
    out = []
    for site, (in_service, up, syncs) in sorted(totals.items()):
        name = f"{site} compute"
        if in_service == 0:
            out.append(Figure("availability", name, "-", f">= {_num(target)} %", None,
                              "no compute host counted by a sync this month"))
            continue
        pct = Decimal(up * 100) / Decimal(in_service)
        out.append(Figure("availability", name, f"{_num(pct)} %", f">= {_num(target)} %",
                          pct >= target, f"{up} of {in_service} host-syncs up, {syncs} syncs"))
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
    # what the posture was judged on: "now (...)" or the month's end and what it read
    as_of: str = "now"


def dr(state: DrState | None, *, tried: str = "now") -> list[Figure]:
    """``tried``: as of when the posture was to be judged, said when it could not be."""
    if state is None:
        return [Figure("dr", "DR posture", "-", "-", None,
                       f"no DR posture could be judged, as of {tried} (docs/dr.md)")]
    when = f"as of {state.as_of}"
    if state.systems == 0:
        return [Figure("dr", "systems compliant", "0 of 0", "all", None,
                       f"no system is under DR protection, {when}")]
    held = state.drills_passed + state.drills_failed
    return [
        Figure("dr", "systems compliant", f"{state.compliant} of {state.systems}", "all",
               state.compliant == state.systems,
               f"{state.at_risk} at risk, {state.non_compliant} non-compliant, {when}"),
        Figure("dr", "drills overdue", str(state.drills_overdue), "0",
               state.drills_overdue == 0, when),
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
    as_of: str = "now"  # when the figures were true: "now", or the month's last sample


def capacity(sites: Iterable[SiteCapacity], *, headroom_pct: Decimal,
             days_to_full: Decimal) -> list[Figure]:
    out = []
    for s in sorted(sites, key=lambda s: s.site):
        when = f"as of {s.as_of}"
        if s.vcpus <= 0:
            out.append(Figure("capacity", f"{s.site} vCPU headroom", "-",
                              f">= {_num(headroom_pct)} %", None,
                              f"no capacity known ({when})"))
        else:
            pct = Decimal(s.headroom * 100) / Decimal(s.vcpus)
            out.append(Figure("capacity", f"{s.site} vCPU headroom", f"{_num(pct)} %",
                              f">= {_num(headroom_pct)} %", pct >= headroom_pct,
                              f"{s.headroom} of {s.vcpus} vCPU free, {when}"))
        days = None if s.days_to_full is None else Decimal(str(round(s.days_to_full, 1)))
        name, target = f"{s.site} days to full", f">= {_num(days_to_full)}"
        if s.forecast == "not-growing":
            out.append(Figure("capacity", name, "never", target, True, f"not growing, {when}"))
        elif days is None:
            out.append(Figure("capacity", name, "-", target, None, f"{s.forecast}, {when}"))
        else:
            out.append(Figure("capacity", name, _num(days, "0.1"), target,
                              days >= days_to_full, f"{s.forecast}, {when}"))
    return out


# --- migration progress --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class WaveProgress:
    """A wave as of the month's end: the systems (and hosts) it plans, and how many had
    finished their migration by then (every host of a system past its last step)."""

    department: str
    number: int
    rehearsal: bool
    window_end: dt.datetime
    status: str  # the wave's state now
    systems: int
    migrated: int
    hosts: int
    hosts_migrated: int


def migration(month: Month, waves: Iterable[WaveProgress]) -> list[Figure]:
    """Per department and wave (the waves whose window opened before the month's end):
    systems migrated of those planned, met once its window has ended with every system
    migrated, missed once it has ended with any left; not judged while it is still open."""
    ordered = sorted(waves, key=lambda w: (w.department, w.number))
    if not ordered:
        return [Figure("migration", "waves", "0", "-", None,
                       "no migration wave was due by the month's end")]
    out = []
    for w in ordered:
        due = w.window_end <= month.end
        name = f"{w.department} wave {w.number}" + (" (rehearsal)" if w.rehearsal else "")
        detail = (f"{w.hosts_migrated} of {w.hosts} hosts by the month's end; wave {w.status}"
                  + ("" if due else "; its window ends after the month"))
        out.append(Figure("migration", name, f"{w.migrated} of {w.systems} systems",
                          f"{w.systems} by {w.window_end:%Y-%m-%d %H:%M}",
                          (w.migrated == w.systems) if due else None, detail))
    return out


# --- alerts ----------------------------------------------------------------------------------

class AlertSource:
    PROTECTION = "DR protection failing"
    DRILL = "drill failed"
    MIGRATION = "migration step failed"


@dataclass(frozen=True, slots=True)
class Incident:
    """A failure govcloud recorded for a department: when it began and, for one that lasts
    (a DR copy's protection failing), when it cleared (None: not by the month's end)."""

    department: str
    source: str  # an AlertSource
    start: dt.datetime
    end: dt.datetime | None = None
    lasts: bool = False


@dataclass(frozen=True, slots=True)
class PointOutcome:
    """A protection cycle's outcome for one copy server (``ok``: a good recovery point)."""

    department: str
    site: str
    server: str
    at: dt.datetime
    ok: bool


def protection_incidents(points: Iterable[PointOutcome]) -> list[Incident]:
    """Each run of failed cycles of one copy server, from its first failed point to the next
    good one (None while none came); a copy failing before the points given starts a run at
    its first point here."""
    by_server: dict[tuple[str, str], list[PointOutcome]] = defaultdict(list)
    for p in points:
        by_server[(p.site, p.server)].append(p)
    out: list[Incident] = []
    for history in by_server.values():
        history.sort(key=lambda p: p.at)
        start: PointOutcome | None = None
        for p in history:
            if not p.ok and start is None:
                start = p
            elif p.ok and start is not None:
                out.append(Incident(start.department, AlertSource.PROTECTION, start.at, p.at,
                                    lasts=True))
                start = None
        if start is not None:
            out.append(Incident(start.department, AlertSource.PROTECTION, start.at, None,
                                lasts=True))
    return sorted(out, key=lambda i: (i.department, i.start))


def _hours(delta: dt.timedelta) -> str:
    return _num(Decimal(int(delta.total_seconds())) / HOUR_S, "0.1")


def alerts(month: Month, incidents: Iterable[Incident], *, until: dt.datetime) -> list[Figure]:
    """Per department with any: the alerts that began in the month (target 0), by source,
    with how long the longest lasting one lasted (up to the month's end); one figure for all
    departments when none began."""
    end = min(month.end, until)
    fired: dict[str, list[Incident]] = defaultdict(list)
    for i in incidents:
        if month.start <= i.start < end:
            fired[i.department].append(i)
    if not fired:
        return [Figure("alerts", "alerts fired", "0", "0", True,
                       "no department had a DR copy failing, a drill failed or a migration "
                       "step failed")]
    out = []
    for dept, items in sorted(fired.items()):
        counts: Mapping[str, int] = {src: sum(1 for i in items if i.source == src)
                                     for src in (AlertSource.PROTECTION, AlertSource.DRILL,
                                                 AlertSource.MIGRATION)}
        parts = [f"{n} {src}" for src, n in counts.items() if n]
        lasting = [i for i in items if i.lasts]
        if lasting:
            longest = max(lasting, key=lambda i: min(i.end or end, end) - i.start)
            still = " (still failing at the month's end)" if longest.end is None or \
                longest.end > end else ""
            parts.append(f"longest {_hours(min(longest.end or end, end) - longest.start)} h"
                         + still)
        out.append(Figure("alerts", f"{dept or '(no department)'} alerts", str(len(items)),
                          "0", False, "; ".join(parts)))
    return out


def prometheus_alerts(month: Month, fired: Iterable[Fired], *, until: dt.datetime,
                      receiving_since: dt.datetime | None) -> list[Figure]:
    """Per alertname, the episodes of Prometheus' alerts that fired in the month (target 0),
    with how long they fired in all and the longest, clipped to the month (an alert still
    firing: up to the month's end, or now). ``receiving_since``: the first alert govcloud
    was ever told of — with none, "none fired" cannot be told from "nobody tells govcloud"
    and is not judged."""
    end = min(month.end, until)
    shown = list(fired)
    if not shown:
        if receiving_since is None or receiving_since >= end:
            return [Figure("alerts", "Prometheus alerts", "-", "0", None,
                           "govcloud had been told of no alert by then: point Alertmanager "
                           "at it (docs/reports.md, alert history)")]
        return [Figure("alerts", "Prometheus alerts", "0", "0", True,
                       f"none fired (alerts received since {receiving_since:%Y-%m-%d})")]
    out = []
    for f in shown:
        parts = [f"{f.began} began in the month" if f.began != f.episodes else "",
                 f"total {_hours(f.total)} h", f"longest {_hours(f.longest)} h",
                 f"{f.open_at_end} still firing at the month's end" if f.open_at_end
                 and until >= month.end else
                 (f"{f.open_at_end} firing now" if f.open_at_end else ""),
                 f"departments {', '.join(f.departments)}" if f.departments else "",
                 f"sites {', '.join(f.sites)}" if f.sites else ""]
        out.append(Figure("alerts", f"{f.alertname} fired", str(f.episodes), "0", False,
                          "; ".join(p for p in parts if p)))
    return out


# --- availability of each department's servers -------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServerHours:
    department: str
    server_hours: int  # primary copies, in the hours metered with the ACTIVE count
    active_hours: int  # of those, the hours the server was ACTIVE


def server_availability(rows: Iterable[ServerHours]) -> list[Figure]:
    """Per department: the share of its server-hours in which the server was ACTIVE —
    shown, not judged (a department may stop its own servers)."""
    out = []
    for r in sorted(rows, key=lambda r: r.department):
        name = f"{r.department or '(no department)'} servers ACTIVE"
        if r.server_hours <= 0:
            out.append(Figure("availability", name, "-", "-", None, "no server-hours metered"))
            continue
        pct = Decimal(r.active_hours * 100) / Decimal(r.server_hours)
        out.append(Figure("availability", name, f"{_num(pct)} %", "-", None,
                          f"{r.active_hours} of {r.server_hours} server-hours ACTIVE "
                          "(primary copies; shown, not judged)"))
    return out
