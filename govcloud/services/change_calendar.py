"""The change calendar as the API serves it (docs/changes.md, "The calendar"): a version is
proposed as YAML text (checked against the catalogue's departments and the configured
sites, every problem with its line), approved by a bureau-admin who is another person than
the one who proposed it (the price sheets' rule), and the newest approved version is in
force. Both are audited (``calendar:VERSION``). ``month_view`` lays a month out for people.

RBAC: reading ``calendar.view`` (a scoped principal sees the windows and freezes that touch
its departments, and only those departments in their lists); proposing
``calendar.propose`` and approving ``calendar.approve``, both on the whole cloud.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import Connection, Engine

from govcloud.domain.calendar import (
    DAYS,
    Calendar,
    CalendarState,
    Freeze,
    Window,
    month_freezes,
    month_openings,
    month_span,
)
from govcloud.domain.calendar_file import CalendarError, CalendarProblem, parse_calendar
from govcloud.domain.metering import Month
from govcloud.domain.rbac import GLOBAL, Action, Principal, may_approve, require
from govcloud.errors import Forbidden, InvalidInput
from govcloud.store import changes_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.changes_repo import StoredCalendar
from govcloud.yamlfile import load_text_tree

Clock = Callable[[], dt.datetime]
MAX_DOCUMENT = 64 * 1024  # characters: a calendar is a few KiB


def parse_calendar_text(text: str, *, source: str, departments: Collection[str] | None = None,
                        sites: Collection[str] | None = None) -> Calendar:
    """A calendar from its YAML text, or a :class:`CalendarError` naming each line."""
    try:
        doc, lines = load_text_tree(text, what=f"calendar {source}")
    except InvalidInput as exc:
        raise CalendarError([CalendarProblem(source, "", exc.message, exc.hint or "")]) \
            from None
    return parse_calendar(doc, source=source, lines=lines, departments=departments,
                          sites=sites)


def current_calendar(conn: Connection) -> Calendar | None:
    """The calendar in force (the version approved last), or None before any is."""
    stored = repo.current_calendar(conn)
    if stored is None:
        return None
    return parse_calendar_text(stored.document, source=f"calendar {stored.version}")


def version_json(s: StoredCalendar, *, in_force: str | None) -> dict[str, Any]:
    return {"version": s.version, "state": s.state.value, "in_force": s.version == in_force,
            "digest": s.digest, "proposed_by": s.proposed_by,
            "proposed_by_person": s.proposed_by_person,
            "proposed_at": s.proposed_at.isoformat(), "approved_by": s.approved_by,
            "approved_by_person": s.approved_by_person,
            "approved_at": s.approved_at.isoformat() if s.approved_at else None}


def _in_force(conn: Connection) -> str | None:
    stored = repo.current_calendar(conn)
    return stored.version if stored is not None else None


def propose(engine: Engine, principal: Principal, document: str, *,
            departments: Collection[str], sites: Collection[str],
            clock: Clock) -> dict[str, Any]:
    """Store a calendar version (its YAML text) as proposed, once it is valid."""
    require(principal, Action.CALENDAR_PROPOSE, GLOBAL)
    if len(document) > MAX_DOCUMENT:
        raise InvalidInput(f"the calendar is longer than {MAX_DOCUMENT // 1024} KiB",
                           hint="a calendar is a few KiB of YAML; is this the right file?")
    calendar = parse_calendar_text(document, source="the calendar", departments=departments,
                                   sites=sites)
    with write_session(engine) as session:
        conn = session.connection()
        stored = repo.add_calendar(conn, calendar.version, document, by=principal.name,
                                   person=principal.person, at=clock())
        after = version_json(stored, in_force=_in_force(conn))
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="calendar.propose",
            target=f"calendar:{calendar.version}", after=after)
        session.commit()
    return {"calendar": after}


def approve(engine: Engine, principal: Principal, version: str, *,
            departments: Collection[str], sites: Collection[str],
            clock: Clock) -> dict[str, Any]:
    """The bureau approves a proposed version — another person than its proposer; it is
    checked again against today's catalogue and sites, and is in force from now on."""
    require(principal, Action.CALENDAR_APPROVE, GLOBAL)
    with write_session(engine) as session:
        conn = session.connection()
        before = repo.get_calendar(conn, version)
        if not may_approve(principal, before.proposed_by_person):
            raise Forbidden(f"{principal.name} ({principal.person}) proposed calendar "
                            f"{version}, with this or another principal, and so may not "
                            "approve it (proposer and approver must differ, as persons)",
                            hint="another person of the bureau approves it")
        if before.state is CalendarState.PROPOSED:
            parse_calendar_text(before.document, source=f"calendar {version}",
                                departments=departments, sites=sites)
        was = _in_force(conn)
        after = repo.approve_calendar(conn, version, by=principal.name,
                                      person=principal.person, at=clock())
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="calendar.approve", target=f"calendar:{version}",
            before={**version_json(before, in_force=was)},
            after=version_json(after, in_force=version))
        session.commit()
    return {"calendar": version_json(after, in_force=version)}


# --- a month, for people -------------------------------------------------------------------------

def _codes(values: frozenset[str], shown: Collection[str] | None) -> list[str]:
    return sorted(v for v in values if shown is None or v in shown)


def _touches(departments: frozenset[str], shown: Collection[str] | None) -> bool:
    return shown is None or not departments or bool(departments & set(shown))


def window_json(w: Window, shown: Collection[str] | None) -> dict[str, Any]:
    return {"name": w.name, "days": [DAYS[d] for d in sorted(w.days)],
            "start": w.start.strftime("%H:%M"),
            "end": w.end.strftime("%H:%M") if w.end is not None else "24:00",
            "sites": sorted(w.sites), "departments": _codes(w.departments, shown)}


def freeze_json(f: Freeze, shown: Collection[str] | None) -> dict[str, Any]:
    return {"name": f.name, "from": f.start.isoformat(), "until": f.end.isoformat(),
            "reason": f.reason, "departments": _codes(f.departments, shown)}


def month_view(conn: Connection, month: Month, *, site: str | None, department: str | None,
               shown: Collection[str] | None) -> dict[str, Any]:
    """The calendar in force laid out over ``month`` (of its own time zone): its windows,
    their openings and the freezes, for ``site`` and ``department`` when given; ``shown``:
    the departments a scoped caller may see (what touches none of them is left out)."""
    stored = repo.current_calendar(conn)
    versions = [version_json(s, in_force=stored.version if stored else None)
                for s in repo.list_calendars(conn)][:20]
    if stored is None:
        return {"month": str(month), "timezone": None, "version": None, "windows": [],
                "openings": [], "freezes": [], "versions": versions}
    calendar = parse_calendar_text(stored.document, source=f"calendar {stored.version}")
    span = month_span(calendar, month.year, month.month)
    windows = [w for w in calendar.windows if w.touches(site, department)
               and _touches(w.departments, shown)]
    openings = [o for o in month_openings(calendar, span, site=site, department=department)
                if o.window in windows]
    tz = calendar.tz
    return {
        "month": str(month), "timezone": calendar.offset_text, "version": stored.version,
        "windows": [window_json(w, shown) for w in windows],
        "openings": [{"window": o.window.name, "start": o.period.start.astimezone(tz)
                      .isoformat(), "end": o.period.end.astimezone(tz).isoformat()}
                     for o in openings],
        "freezes": [freeze_json(f, shown)
                    for f in month_freezes(calendar, span, department=department)
                    if _touches(f.departments, shown)],
        "versions": versions}


def month_bounds(conn: Connection, month: Month) -> tuple[dt.datetime, dt.datetime]:
    """The month in the calendar's time zone (UTC when there is no calendar yet)."""
    calendar = current_calendar(conn)
    if calendar is None:
        return month.start, month.end
    span = month_span(calendar, month.year, month.month)
    return span.start, span.end
