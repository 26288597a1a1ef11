"""The change calendar: weekly maintenance windows and freeze periods, and the math on them
(issue 21; docs/changes.md, "The calendar").

* A **maintenance window** recurs every week on some days, from a start to an end time of the
  calendar's local time (``end`` at or before ``start`` runs past midnight into the next day;
  ``24:00`` is the end of the day). It applies to the sites and departments it names (none
  named: every site, every department).
* A **freeze** is an absolute range of local dates (``start`` to ``end``, both whole days),
  with a reason; province-wide, or for the departments it names.
* **Time zone rule**: a calendar is written in one fixed UTC offset (default ``+08:00``,
  China Standard Time, which has kept no daylight saving since 1991). Offsets never change
  within a calendar, so a weekly window is always the same number of hours, and every
  instant the code compares is an aware UTC time. Named zones with daylight saving are
  refused when the file is read (``govcloud.domain.calendar_file``).

A change's window ``[start, end)`` is **allowed** for departments D at sites S when no freeze
touching any of D overlaps it and, for every site s of S and department d of D, it lies
inside one (merged) occurrence of a window that applies to (s, d). The functions here are
pure: times in, verdicts out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = dt.timedelta(days=1)
HORIZON = dt.timedelta(days=400)  # how far ``next_opening`` looks
SHANGHAI = dt.timedelta(hours=8)


class CalendarState(StrEnum):
    """A calendar version is proposed, then approved by another person; the newest approved
    one is in force. An approved version is never edited: a correction is a new version."""

    PROPOSED = "proposed"
    APPROVED = "approved"


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly maintenance window: ``days`` (0 = Monday), local ``start`` and ``end``
    (``end`` <= ``start``: past midnight; ``end`` None: 24:00)."""

    name: str
    days: frozenset[int]
    start: dt.time
    end: dt.time | None
    sites: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()

    def applies(self, site: str, department: str) -> bool:
        return ((not self.sites or site in self.sites)
                and (not self.departments or department in self.departments))

    def touches(self, site: str | None, department: str | None) -> bool:
        """Does the window apply to ``site`` / ``department`` (None: any)?"""
        return ((site is None or not self.sites or site in self.sites)
                and (department is None or not self.departments
                     or department in self.departments))

    @property
    def length(self) -> dt.timedelta:
        start = self.start.hour * 60 + self.start.minute
        end = 24 * 60 if self.end is None else self.end.hour * 60 + self.end.minute
        if end <= start:
            end += 24 * 60
        return dt.timedelta(minutes=end - start)

    def describe(self) -> str:
        days = ",".join(DAYS[d] for d in sorted(self.days))
        end = self.end.strftime("%H:%M") if self.end is not None else "24:00"
        return f"{self.name} ({days} {self.start.strftime('%H:%M')}-{end})"


@dataclass(frozen=True, slots=True)
class Freeze:
    """No change in ``[start, end]`` (local dates, whole days) for ``departments`` (none:
    every department)."""

    name: str
    start: dt.date
    end: dt.date
    reason: str
    departments: frozenset[str] = frozenset()

    def touches(self, department: str) -> bool:
        return not self.departments or department in self.departments

    def describe(self) -> str:
        scope = "province-wide" if not self.departments else \
            "for " + ", ".join(sorted(self.departments))
        return f"freeze {self.name} ({self.start} to {self.end}, {scope}: {self.reason})"


@dataclass(frozen=True, slots=True)
class Calendar:
    """One version of the change calendar."""

    version: str
    offset: dt.timedelta = SHANGHAI
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    description: str = ""
    source: str = field(default="", compare=False)

    @property
    def tz(self) -> dt.timezone:
        return dt.timezone(self.offset)

    @property
    def offset_text(self) -> str:
        return offset_text(self.offset)

    def local(self, at: dt.datetime) -> dt.datetime:
        return at.astimezone(self.tz)

    def freeze_span(self, freeze: Freeze) -> Period:
        """A freeze as UTC instants: its first local day's midnight to the day after its
        last."""
        start = dt.datetime.combine(freeze.start, dt.time(), self.tz)
        end = dt.datetime.combine(freeze.end + DAY, dt.time(), self.tz)
        return Period(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def offset_text(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """``[start, end)`` in aware UTC times."""

    start: dt.datetime
    end: dt.datetime

    def overlaps(self, other: Period) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Period) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True, slots=True)
class Verdict:
    """Is a change window allowed? ``reasons`` says why not (empty when it is);
    ``freezes`` are the freezes it runs into."""

    allowed: bool
    reasons: tuple[str, ...] = ()
    freezes: tuple[Freeze, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed


# --- occurrences ------------------------------------------------------------------------------

def occurrences(calendar: Calendar, window: Window, start: dt.datetime,
                end: dt.datetime) -> list[Period]:
    """The occurrences of ``window`` that overlap ``[start, end)``, in order (UTC)."""
    tz = calendar.tz
    day = start.astimezone(tz).date() - DAY  # one that started the day before may run on
    last = end.astimezone(tz).date()
    wanted = Period(start, end)
    out: list[Period] = []
    while day <= last:
        if day.weekday() in window.days:
            opens = dt.datetime.combine(day, window.start, tz)
            closes = opens + window.length
            found = Period(opens.astimezone(dt.UTC), closes.astimezone(dt.UTC))
            if found.overlaps(wanted):
                out.append(found)
        day += DAY
    return out


def merge(periods: Iterable[Period]) -> list[Period]:
    """Periods that overlap or touch, merged; in order."""
    out: list[Period] = []
    for p in sorted(periods):
        if out and p.start <= out[-1].end:
            if p.end > out[-1].end:
                out[-1] = Period(out[-1].start, p.end)
        else:
            out.append(p)
    return out


def intersect(a: Sequence[Period], b: Sequence[Period]) -> list[Period]:
    """The instants in both lists of merged periods."""
    out: list[Period] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if start < end:
            out.append(Period(start, end))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return out


def subtract(periods: Sequence[Period], holes: Sequence[Period]) -> list[Period]:
    """``periods`` with the instants of ``holes`` taken out."""
    out: list[Period] = []
    for p in periods:
        pieces = [p]
        for h in holes:
            pieces = [q for piece in pieces for q in _cut(piece, h)]
        out += pieces
    return out


def _cut(p: Period, hole: Period) -> list[Period]:
    if not p.overlaps(hole):
        return [p]
    return [q for q in (Period(p.start, hole.start), Period(hole.end, p.end))
            if q.start < q.end]


# --- the questions a change asks ------------------------------------------------------------

def freezes_touching(calendar: Calendar, departments: Iterable[str], start: dt.datetime,
                     end: dt.datetime) -> list[Freeze]:
    """The freezes that touch any of ``departments`` and overlap ``[start, end)``."""
    codes = list(departments)
    wanted = Period(start, end)
    return [f for f in calendar.freezes
            if any(f.touches(d) for d in codes) and calendar.freeze_span(f).overlaps(wanted)]


def freeze_at(calendar: Calendar, department: str, at: dt.datetime) -> Freeze | None:
    """The freeze that touches ``department`` at instant ``at``, or None."""
    found = freezes_touching(calendar, [department], at, at + dt.timedelta(microseconds=1))
    return found[0] if found else None


def open_periods(calendar: Calendar, departments: Sequence[str], sites: Sequence[str],
                 start: dt.datetime, end: dt.datetime) -> list[Period]:
    """When every (site, department) pair has a maintenance window open at once, within
    ``[start, end)`` (merged, not clipped); freezes not considered."""
    result: list[Period] | None = None
    for site in sites:
        for department in departments:
            mine = merge(p for w in calendar.windows if w.applies(site, department)
                         for p in occurrences(calendar, w, start, end))
            result = mine if result is None else intersect(result, mine)
            if not result:
                return []
    return result or []


def allowed_periods(calendar: Calendar, departments: Sequence[str], sites: Sequence[str],
                    start: dt.datetime, end: dt.datetime) -> list[Period]:
    """The periods within ``[start, end)`` when a change to ``departments`` at ``sites``
    may run: every window open, no freeze touching them."""
    holes = merge(calendar.freeze_span(f)
                  for f in freezes_touching(calendar, departments, start, end))
    return subtract(open_periods(calendar, departments, sites, start, end), holes)


def check_window(calendar: Calendar, departments: Sequence[str], sites: Sequence[str],
                 start: dt.datetime, end: dt.datetime, *,
                 need_window: bool = True) -> Verdict:
    """May a change to ``departments`` at ``sites`` run in ``[start, end)``? Not in a freeze
    that touches any of them; and (``need_window``) inside a maintenance window of every
    (site, department) pair. The reasons name the freezes, the pairs no window applies to,
    and the next opening."""
    asked = Period(start, end)
    freezes = tuple(freezes_touching(calendar, departments, start, end))
    reasons = [f"it overlaps {f.describe()}" for f in freezes]
    if need_window:
        missing = [(s, d) for s in sites for d in departments
                   if not any(w.applies(s, d) for w in calendar.windows)]
        if missing:
            shown = ", ".join(f"{d} at {s}" for s, d in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            reasons.append(f"no maintenance window applies to {shown}{more}")
        elif not any(p.contains(asked) for p in
                     open_periods(calendar, departments, sites, start, end)):
            reasons.append("it is not inside a maintenance window of "
                           + _who(departments, sites))
    return Verdict(not reasons, tuple(reasons), freezes)


def _who(departments: Sequence[str], sites: Sequence[str]) -> str:
    shown = ", ".join(list(departments)[:5]) + (" ..." if len(departments) > 5 else "")
    return f"{shown} at {', '.join(sites)}"


def next_opening(calendar: Calendar, departments: Sequence[str], sites: Sequence[str],
                 after: dt.datetime, *, horizon: dt.timedelta = HORIZON) -> Period | None:
    """The first period starting at or after ``after`` when a change to ``departments`` at
    ``sites`` may run (within ``horizon``), or None."""
    for p in allowed_periods(calendar, departments, sites, after, after + horizon):
        if p.start >= after:
            return p
    return None


# --- a month, for people ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Opening:
    window: Window
    period: Period


def month_span(calendar: Calendar, year: int, month: int) -> Period:
    """A month of the calendar's local time, as UTC instants."""
    first = dt.date(year, month, 1)
    after = dt.date(year + (month == 12), month % 12 + 1, 1)
    return Period(dt.datetime.combine(first, dt.time(), calendar.tz).astimezone(dt.UTC),
                  dt.datetime.combine(after, dt.time(), calendar.tz).astimezone(dt.UTC))


def month_openings(calendar: Calendar, span: Period, *, site: str | None = None,
                   department: str | None = None) -> list[Opening]:
    """Every window occurrence that overlaps ``span`` (of windows touching ``site`` and
    ``department`` when given), by start."""
    found = [Opening(w, p) for w in calendar.windows if w.touches(site, department)
             for p in occurrences(calendar, w, span.start, span.end)]
    return sorted(found, key=lambda o: (o.period.start, o.window.name))


def month_freezes(calendar: Calendar, span: Period, *,
                  department: str | None = None) -> list[Freeze]:
    """The freezes that overlap ``span`` (touching ``department`` when given), by start."""
    return sorted((f for f in calendar.freezes
                   if (department is None or f.touches(department))
                   and calendar.freeze_span(f).overlaps(span)),
                  key=lambda f: (f.start, f.name))
