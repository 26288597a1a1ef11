"""A change calendar file: checked field by field, every problem named with its line
(docs/changes.md, "The calendar file").

``parse_calendar`` takes the document as ``govcloud.yamlfile.load_text_tree`` reads it (every
scalar as the text written, and the line of every field) and returns a
:class:`~govcloud.domain.calendar.Calendar`, or a :class:`CalendarError` listing every
problem — nothing of a calendar with any problem is used.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from govcloud.domain.calendar import DAYS, SHANGHAI, Calendar, Freeze, Window
from govcloud.domain.text import control_characters
from govcloud.errors import InvalidInput

_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^(\d{2}):(\d{2})$")
_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{2}):(\d{2})$")
# Zones that keep one offset all year (no daylight saving), by name; others are refused.
FIXED_ZONES = {"Asia/Shanghai": SHANGHAI, "Asia/Hong_Kong": SHANGHAI,
               "Asia/Macau": SHANGHAI, "UTC": dt.timedelta(0)}
_FIELDS = ("version", "timezone", "description", "windows", "freezes")
_WINDOW_FIELDS = ("name", "days", "start", "end", "sites", "departments")
_FREEZE_FIELDS = ("name", "from", "until", "reason", "departments")
_DAY_SETS = {"daily": tuple(range(7)), "weekdays": tuple(range(5)), "weekends": (5, 6)}
MAX_WINDOWS = 200
MAX_FREEZES = 500
MAX_FREEZE_DAYS = 92
MAX_REASON = 200
MAX_DESCRIPTION = 500


@dataclass(frozen=True, slots=True)
class CalendarProblem:
    """One thing wrong in a calendar file: where (field and line), what, how to fix it."""

    source: str
    field: str
    message: str
    hint: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message} " \
               f"(fix: {self.hint})"


class CalendarError(InvalidInput):
    """The calendar cannot be used; ``problems`` lists everything found. Nothing changes."""

    def __init__(self, problems: Iterable[CalendarProblem]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            only = self.problems[0]
            super().__init__(str(only).rsplit(" (fix: ", 1)[0], hint=only.hint)
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            super().__init__(f"the calendar has {len(self.problems)} problems:\n{lines}",
                             hint="fix each line named above (docs/changes.md describes "
                                  "every field); nothing changes until the file is valid")


class _Check:
    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source, self.lines = source, lines
        self.problems: list[CalendarProblem] = []

    def add(self, where: str, message: str, hint: str) -> None:
        probe, line = where, self.lines.get(where)
        while line is None and probe:
            probe = probe.rpartition(".")[0] if "." in probe else probe.rpartition("[")[0]
            line = self.lines.get(probe)
        self.problems.append(CalendarProblem(self.source, where, message, hint, line))

    def fields(self, value: Any, where: str, allowed: Collection[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.add(where, "must be a mapping of fields", "write `field: value` lines")
            return {}
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, list(allowed), n=1)
                self.add(f"{where}.{key}" if where else key, "unknown field",
                         f"did you mean {close[0]}?" if close else
                         f"allowed: {', '.join(allowed)}")
        return value

    def items(self, value: Any, where: str, limit: int) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(where, "must be a list", "write one `- ...` entry per line")
            return []
        if len(value) > limit:
            self.add(where, f"has {len(value)} entries, more than {limit}", "merge some")
            return []
        return value

    def text(self, value: Any, where: str, *, limit: int, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip() or len(value) > limit \
                or control_characters(value):
            self.add(where, "must be one line of text" + (", not empty" if required else ""),
                     f"at most {limit} characters, no control characters")
            return ""
        return value.strip()

    def name(self, value: Any, where: str, seen: set[str]) -> str:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            self.add(where, f"{str(value)[:40]!r} is not a name",
                     "lower-case letters, digits, '.', '_' or '-', e.g. weekly-saturday")
            return ""
        if value in seen:
            self.add(where, f"{value} is given twice", "give each entry a name of its own")
        seen.add(value)
        return value

    def codes(self, value: Any, where: str, known: Collection[str] | None,
              what: str) -> frozenset[str]:
        out: set[str] = set()
        for i, code in enumerate(self.items(value, where, 1000)):
            here = f"{where}[{i}]"
            if not isinstance(code, str) or not code:
                self.add(here, f"must be a {what} code",
                         "e.g. PROD" if what == "site" else "e.g. gd-tax")
            elif known is not None and code not in known:
                close = difflib.get_close_matches(code, list(known), n=1)
                where_from = "the settings" if what == "site" else "the catalogue"
                self.add(here, f"unknown {what} {code[:64]!r}",
                         f"did you mean {close[0]}?" if close else
                         f"use a {what} of {where_from}")
            else:
                out.add(code)
        return frozenset(out)


def parse_offset(value: Any) -> dt.timedelta | None:
    """A calendar's ``timezone``: ``+08:00``, ``UTC+08:00`` or a zone that keeps one offset
    all year (``Asia/Shanghai``, ``UTC``); None when it is none of them."""
    if not isinstance(value, str):
        return None
    if value in FIXED_ZONES:
        return FIXED_ZONES[value]
    m = _OFFSET.fullmatch(value)
    if m is None or int(m.group(2)) > 14 or int(m.group(3)) >= 60:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return dt.timedelta(minutes=-minutes if m.group(1) == "-" else minutes)


_DAY_NAMES = {**{d: i for i, d in enumerate(DAYS)},
              **{d: i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday",
                                             "friday", "saturday", "sunday"))}}


def _time(c: _Check, value: Any, where: str, *, end: bool) -> tuple[bool, dt.time | None]:
    """``(True, time)`` for ``HH:MM`` (``(True, None)`` for ``24:00`` as an end); ``(False,
    None)`` after reporting anything else."""
    m = _TIME.fullmatch(value) if isinstance(value, str) else None
    if m is not None:
        hour, minute = int(m.group(1)), int(m.group(2))
        if end and (hour, minute) == (24, 0):
            return True, None
        if hour < 24 and minute < 60:
            return True, dt.time(hour, minute)
    c.add(where, f"{str(value)[:20]!r} is not a time",
          "write HH:MM in the calendar's time zone, e.g. 01:00"
          + (" (24:00: midnight)" if end else ""))
    return False, None


def _days(c: _Check, value: Any, where: str) -> frozenset[int]:
    if isinstance(value, str) and value in _DAY_SETS:
        return frozenset(_DAY_SETS[value])
    if isinstance(value, list) and not value:
        c.add(where, "names no day", "name at least one day, e.g. [sat]")
    days: set[int] = set()
    for i, day in enumerate(c.items(value, where, 7)):
        if isinstance(day, str) and day.lower() in _DAY_NAMES:
            days.add(_DAY_NAMES[day.lower()])
        else:
            c.add(f"{where}[{i}]", f"{str(day)[:20]!r} is not a day of the week",
                  "write mon, tue, wed, thu, fri, sat or sun (or daily, weekdays, weekends)")
    return frozenset(days)


def _window(c: _Check, doc: Any, where: str, seen: set[str],
            departments: Collection[str] | None,
            sites: Collection[str] | None) -> Window | None:
    body = c.fields(doc, where, _WINDOW_FIELDS)
    if not body:
        return None
    for name in ("name", "days", "start", "end"):
        if name not in body:
            c.add(f"{where}.{name}", "is missing", f"add {name} (docs/changes.md)")
    name = c.name(body["name"], f"{where}.name", seen) if "name" in body else ""
    days = _days(c, body["days"], f"{where}.days") if "days" in body else frozenset()
    start_ok, start = _time(c, body["start"], f"{where}.start", end=False) \
        if "start" in body else (False, None)
    end_ok, end = _time(c, body["end"], f"{where}.end", end=True) \
        if "end" in body else (False, None)
    if start_ok and end_ok and start == end:
        c.add(f"{where}.end", "is the same time as start",
              "a window of a whole day runs from 00:00 to 24:00")
    site_codes = c.codes(body.get("sites"), f"{where}.sites", sites, "site")
    codes = c.codes(body.get("departments"), f"{where}.departments", departments,
                    "department")
    if not (name and days and start_ok and end_ok) or start is None:
        return None
    return Window(name, days, start, end, site_codes, codes)


def _date(c: _Check, value: Any, where: str) -> dt.date | None:
    try:
        if isinstance(value, str) and _DATE.fullmatch(value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    c.add(where, f"{str(value)[:20]!r} is not a date", "write it as YYYY-MM-DD")
    return None


def _freeze(c: _Check, doc: Any, where: str, seen: set[str],
            departments: Collection[str] | None) -> Freeze | None:
    body = c.fields(doc, where, _FREEZE_FIELDS)
    if not body:
        return None
    for name in ("name", "from", "until", "reason"):
        if name not in body:
            c.add(f"{where}.{name}", "is missing", f"add {name} (docs/changes.md)")
    name = c.name(body.get("name"), f"{where}.name", seen) if "name" in body else ""
    start = _date(c, body["from"], f"{where}.from") if "from" in body else None
    end = _date(c, body["until"], f"{where}.until") if "until" in body else None
    reason = c.text(body.get("reason"), f"{where}.reason", limit=MAX_REASON) \
        if "reason" in body else ""
    codes = c.codes(body.get("departments"), f"{where}.departments", departments, "department")
    if start is not None and end is not None:
        if end < start:
            c.add(f"{where}.until", f"{end} is before from ({start})",
                  "a freeze ends on or after the day it starts")
            return None
        if (end - start).days + 1 > MAX_FREEZE_DAYS:
            c.add(f"{where}.until", f"the freeze is {(end - start).days + 1} days long",
                  f"a freeze is at most {MAX_FREEZE_DAYS} days; split a longer one")
            return None
    if not name or start is None or end is None or not reason:
        return None
    return Freeze(name, start, end, reason, codes)


def parse_calendar(doc: Any, *, source: str, lines: Mapping[str, int] | None = None,
                   departments: Collection[str] | None = None,
                   sites: Collection[str] | None = None) -> Calendar:
    """A calendar from its document, or a :class:`CalendarError` naming every problem with
    its line. ``departments`` and ``sites``, when given, are the codes it may name."""
    c = _Check(source, lines or {})
    top = c.fields(doc, "", _FIELDS)
    if isinstance(doc, dict) and "version" not in top:
        c.add("version", "is missing", 'add a version, e.g. version: "2027.1"')
    version = str(top.get("version", ""))
    if "version" in top and not _VERSION.fullmatch(version):
        c.add("version", f"{version[:40]!r} is not a version",
              "letters, digits, '.', '_' or '-', at most 64 characters, e.g. 2027.1")
    offset = parse_offset(top.get("timezone", "+08:00"))
    if offset is None:
        c.add("timezone", f"{str(top.get('timezone'))[:40]!r} is not a fixed UTC offset",
              "write +08:00 (or Asia/Shanghai, UTC): a calendar's time zone keeps one offset "
              "all year; zones with daylight saving are not supported")
    description = c.text(top.get("description"), "description", limit=MAX_DESCRIPTION,
                         required=False)
    seen: set[str] = set()
    windows = [_window(c, w, f"windows[{i}]", seen, departments, sites)
               for i, w in enumerate(c.items(top.get("windows"), "windows", MAX_WINDOWS))]
    freezes = [_freeze(c, f, f"freezes[{i}]", seen, departments)
               for i, f in enumerate(c.items(top.get("freezes"), "freezes", MAX_FREEZES))]
    if c.problems or offset is None:
        raise CalendarError(c.problems)
    return Calendar(version, offset, tuple(w for w in windows if w is not None),
                    tuple(f for f in freezes if f is not None), description, source)
