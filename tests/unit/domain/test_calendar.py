"""The change calendar's math: weekly windows in a fixed UTC offset (across midnight and the
week's end), freezes as whole local days, several departments and sites at once, the next
opening; and the calendar file's checks, each naming its line."""

from __future__ import annotations

import datetime as dt

import pytest

from govcloud.domain.calendar import (
    Calendar,
    Freeze,
    Period,
    Window,
    allowed_periods,
    check_window,
    freeze_at,
    month_freezes,
    month_openings,
    month_span,
    next_opening,
    occurrences,
)
from govcloud.domain.calendar_file import CalendarError, parse_calendar, parse_offset
from govcloud.yamlfile import load_text_tree

CST = dt.timezone(dt.timedelta(hours=8))
SAT, SUN = 5, 6


def at(text: str) -> dt.datetime:
    """A local time (+08:00) written as 2027-01-09 01:00."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


def window(name: str, days: set[int], start: str, end: str | None, *,
           sites: set[str] | None = None, departments: set[str] | None = None) -> Window:
    return Window(name, frozenset(days), dt.time.fromisoformat(start),
                  dt.time.fromisoformat(end) if end else None,
                  frozenset(sites or ()), frozenset(departments or ()))


SATURDAY = window("weekly-saturday", {SAT}, "01:00", "05:00")
NPC = Freeze("npc-2027", dt.date(2027, 3, 3), dt.date(2027, 3, 15), "全国两会")
GAOKAO = Freeze("gaokao-results", dt.date(2027, 6, 23), dt.date(2027, 6, 28),
                "高考 results week", frozenset({"gd-edu"}))
CAL = Calendar("2027.1", windows=(SATURDAY,), freezes=(NPC, GAOKAO))


def allowed(calendar: Calendar, start: str, end: str, departments: tuple[str, ...] = ("gd-tax",),
            sites: tuple[str, ...] = ("PROD",)) -> bool:
    return check_window(calendar, departments, sites, at(start), at(end)).allowed


def test_a_saturday_window_in_shanghai_time_is_friday_evening_in_utc() -> None:
    # 2027-01-09 is a Saturday; 01:00-05:00 +08:00 is Friday 17:00-21:00 UTC
    found = occurrences(CAL, SATURDAY, at("2027-01-04 00:00"), at("2027-01-11 00:00"))
    assert found == [Period(dt.datetime(2027, 1, 8, 17, tzinfo=dt.UTC),
                            dt.datetime(2027, 1, 8, 21, tzinfo=dt.UTC))]
    assert allowed(CAL, "2027-01-09 01:00", "2027-01-09 05:00")
    assert allowed(CAL, "2027-01-09 02:00", "2027-01-09 03:00")
    assert not allowed(CAL, "2027-01-09 00:59", "2027-01-09 02:00")  # opens a minute early
    assert not allowed(CAL, "2027-01-09 04:00", "2027-01-09 05:01")  # runs a minute over
    assert not allowed(CAL, "2027-01-08 01:00", "2027-01-08 02:00")  # a Friday
    # the same instants written in UTC are the same answer
    utc = check_window(CAL, ["gd-tax"], ["PROD"], dt.datetime(2027, 1, 8, 17, tzinfo=dt.UTC),
                       dt.datetime(2027, 1, 8, 21, tzinfo=dt.UTC))
    assert utc.allowed


def test_a_window_past_midnight_across_the_weeks_end() -> None:
    late = Calendar("x", windows=(window("sunday-night", {SUN}, "23:00", "02:00"),))
    # 2027-01-10 is a Sunday; the window runs into Monday 2027-01-11
    assert allowed(late, "2027-01-10 23:00", "2027-01-11 02:00")
    assert allowed(late, "2027-01-11 00:30", "2027-01-11 01:30")
    assert not allowed(late, "2027-01-11 01:30", "2027-01-11 02:30")
    assert not allowed(late, "2027-01-11 23:00", "2027-01-12 00:30")  # Monday night: no
    # a week later, and across a year's end (2028-01-02 is a Sunday)
    assert allowed(late, "2028-01-02 23:30", "2028-01-03 01:00")


def test_a_window_to_midnight_and_windows_that_touch_merge() -> None:
    cal = Calendar("x", windows=(window("a", {SAT}, "20:00", None),
                                 window("b", {SUN}, "00:00", "03:00")))
    assert allowed(cal, "2027-01-09 23:00", "2027-01-10 02:00")  # Sat 23:00 to Sun 02:00
    assert not allowed(cal, "2027-01-10 02:00", "2027-01-10 04:00")


def test_every_department_and_site_must_have_a_window_open_at_once() -> None:
    cal = Calendar("x", windows=(
        window("tax", {SAT}, "01:00", "05:00", departments={"gd-tax"}, sites={"PROD"}),
        window("edu", {SAT}, "03:00", "07:00", departments={"gd-edu"}),
        window("dr", {SUN}, "01:00", "05:00", sites={"DR-LOCAL"})))
    both = ("gd-tax", "gd-edu")
    assert allowed(cal, "2027-01-09 03:00", "2027-01-09 05:00", both)
    assert not allowed(cal, "2027-01-09 02:00", "2027-01-09 04:00", both)
    verdict = check_window(cal, ["gd-tax"], ["PROD", "DR-LOCAL"], at("2027-01-09 01:00"),
                           at("2027-01-09 02:00"))
    assert not verdict.allowed
    # gd-tax's own window is PROD's; DR-LOCAL's (any department) is on Sunday: never both
    assert "not inside a maintenance window of gd-tax at PROD, DR-LOCAL" in verdict.reasons[0]
    nothing = check_window(cal, ["gd-psd"], ["PROD"], at("2027-01-09 01:00"),
                           at("2027-01-09 02:00"))
    assert nothing.reasons == ("no maintenance window applies to gd-psd at PROD",)


def test_a_freeze_refuses_the_window_and_names_itself_by_local_days() -> None:
    # 2027-03-06 is a Saturday inside the national congress sessions
    verdict = check_window(CAL, ["gd-tax"], ["PROD"], at("2027-03-06 01:00"),
                           at("2027-03-06 03:00"))
    assert not verdict.allowed and verdict.freezes == (NPC,)
    assert "freeze npc-2027 (2027-03-03 to 2027-03-15, province-wide: 全国两会)" \
        in verdict.reasons[0]
    # the freeze starts at local midnight of 2027-03-03, which is 16:00 UTC the day before
    assert freeze_at(CAL, "gd-tax", dt.datetime(2027, 3, 2, 15, 59, tzinfo=dt.UTC)) is None
    assert freeze_at(CAL, "gd-tax", dt.datetime(2027, 3, 2, 16, 0, tzinfo=dt.UTC)) == NPC
    assert freeze_at(CAL, "gd-tax", at("2027-03-15 23:59")) == NPC
    assert freeze_at(CAL, "gd-tax", at("2027-03-16 00:00")) is None
    # the Saturday after: open again
    assert allowed(CAL, "2027-03-20 01:00", "2027-03-20 05:00")


def test_a_department_freeze_touches_only_its_departments() -> None:
    # 2027-06-26 is a Saturday of the gaokao results week
    assert allowed(CAL, "2027-06-26 01:00", "2027-06-26 02:00", ("gd-tax",))
    assert not allowed(CAL, "2027-06-26 01:00", "2027-06-26 02:00", ("gd-edu",))
    assert not allowed(CAL, "2027-06-26 01:00", "2027-06-26 02:00", ("gd-tax", "gd-edu"))
    assert freeze_at(CAL, "gd-edu", at("2027-06-25 12:00")) == GAOKAO
    assert freeze_at(CAL, "gd-tax", at("2027-06-25 12:00")) is None


def test_without_a_window_only_freezes_count() -> None:
    verdict = check_window(CAL, ["gd-tax"], ["PROD"], at("2027-01-05 10:00"),
                           at("2027-01-05 11:00"), need_window=False)
    assert verdict.allowed
    verdict = check_window(CAL, ["gd-tax"], ["PROD"], at("2027-03-05 10:00"),
                           at("2027-03-05 11:00"), need_window=False)
    assert not verdict.allowed


def test_the_next_opening_skips_a_freeze() -> None:
    found = next_opening(CAL, ["gd-tax"], ["PROD"], at("2027-03-01 12:00"))
    assert found == Period(at("2027-03-20 01:00").astimezone(dt.UTC),
                           at("2027-03-20 05:00").astimezone(dt.UTC))
    inside = next_opening(CAL, ["gd-tax"], ["PROD"], at("2027-01-09 02:00"))
    assert inside is not None and inside.start == at("2027-01-16 01:00")
    assert next_opening(Calendar("empty"), ["gd-tax"], ["PROD"], at("2027-01-01 00:00")) is None


def test_allowed_periods_cut_a_window_a_freeze_starts_in() -> None:
    cal = Calendar("x", windows=(window("all-day", {0, 1, 2, 3, 4, 5, 6}, "00:00", None),),
                   freezes=(NPC,))
    periods = allowed_periods(cal, ["gd-tax"], ["PROD"], at("2027-03-02 12:00"),
                              at("2027-03-17 00:00"))
    assert [p.end for p in periods if p.end <= at("2027-03-03 00:00")] == [at("2027-03-03 00:00")]
    assert any(p.start == at("2027-03-16 00:00") for p in periods)


def test_a_month_lists_its_openings_and_freezes_in_local_time() -> None:
    span = month_span(CAL, 2027, 3)
    assert span.start == at("2027-03-01 00:00")
    openings = month_openings(CAL, span)
    assert [o.period.start.astimezone(CST).day for o in openings] == [6, 13, 20, 27]
    assert month_freezes(CAL, span) == [NPC]
    assert month_freezes(CAL, month_span(CAL, 2027, 6), department="gd-tax") == []
    assert month_freezes(CAL, month_span(CAL, 2027, 6), department="gd-edu") == [GAOKAO]


# --- the file -----------------------------------------------------------------------------------

GOOD = """\
version: "2027.1"
timezone: Asia/Shanghai
windows:
  - name: weekly-saturday
    days: [sat]
    start: "01:00"
    end: "05:00"
  - name: tax-nights
    days: weekdays
    start: "22:00"
    end: "02:00"
    departments: [gd-tax]
    sites: [PROD]
freezes:
  - name: npc-2027
    from: 2027-03-03
    until: 2027-03-15
    reason: 全国两会 national congress sessions
"""


def parse(text: str) -> Calendar:
    doc, lines = load_text_tree(text, what="calendar")
    return parse_calendar(doc, source="cal.yaml", lines=lines,
                          departments={"gd-tax", "gd-edu"}, sites={"PROD", "DR-LOCAL"})


def test_a_good_file() -> None:
    cal = parse(GOOD)
    assert cal.version == "2027.1" and cal.offset == dt.timedelta(hours=8)
    assert [w.name for w in cal.windows] == ["weekly-saturday", "tax-nights"]
    assert cal.windows[1].days == frozenset(range(5))
    assert cal.windows[1].departments == frozenset({"gd-tax"})
    assert cal.freezes[0].start == dt.date(2027, 3, 3)


@pytest.mark.parametrize(("change", "where"), [
    ('    start: "01:00"', 'cal.yaml:6: windows[0].start: \'25:00\' is not a time'),
    ("    days: [sat]", "cal.yaml:5: windows[0].days[0]: 'saturnday' is not a day"),
    ("    until: 2027-03-15", "cal.yaml:17: freezes[0].until: 2027-03-01 is before from"),
    ("    departments: [gd-tax]", "cal.yaml:12: windows[1].departments[0]: unknown "
                                  "department 'gd-taxx'"),
    ("    end: \"05:00\"", "cal.yaml:7: windows[0].end: is the same time as start"),
    ("timezone: Asia/Shanghai", "cal.yaml:2: timezone: 'Europe/Berlin' is not a fixed UTC "
                                "offset"),
    ("  - name: tax-nights", "cal.yaml:8: windows[1].name: weekly-saturday is given twice"),
])
def test_each_problem_names_its_line(change: str, where: str) -> None:
    replacement = {
        '    start: "01:00"': '    start: "25:00"',
        "    days: [sat]": "    days: [saturnday]",
        "    until: 2027-03-15": "    until: 2027-03-01",
        "    departments: [gd-tax]": "    departments: [gd-taxx]",
        "    end: \"05:00\"": "    end: \"01:00\"",
        "timezone: Asia/Shanghai": "timezone: Europe/Berlin",
        "  - name: tax-nights": "  - name: weekly-saturday",
    }[change]
    with pytest.raises(CalendarError) as caught:
        parse(GOOD.replace(change, replacement, 1))
    assert str(caught.value).startswith(where), str(caught.value)
    assert caught.value.hint


def test_every_problem_is_listed_at_once() -> None:
    text = GOOD.replace("    days: [sat]", "    dayz: [sat]").replace(
        "    reason: 全国两会 national congress sessions\n", "")
    with pytest.raises(CalendarError) as caught:
        parse(text)
    found = {(p.field, p.line) for p in caught.value.problems}
    assert ("windows[0].dayz", 5) in found  # unknown field (did you mean days?)
    assert ("windows[0].days", 4) in found  # missing: the line of its entry
    assert ("freezes[0].reason", 15) in found
    assert "3 problems" in caught.value.message


def test_a_freeze_longer_than_a_quarter_is_refused() -> None:
    with pytest.raises(CalendarError, match="the freeze is 304 days long") as caught:
        parse(GOOD.replace("until: 2027-03-15", "until: 2027-12-31"))
    assert "at most 92 days" in (caught.value.hint or "")


@pytest.mark.parametrize(("text", "offset"), [
    ("+08:00", dt.timedelta(hours=8)), ("UTC+05:30", dt.timedelta(hours=5, minutes=30)),
    ("-03:00", dt.timedelta(hours=-3)), ("Asia/Shanghai", dt.timedelta(hours=8)),
    ("UTC", dt.timedelta(0)), ("Europe/Berlin", None), ("+25:00", None), ("8", None),
])
def test_only_fixed_offsets_are_time_zones(text: str, offset: dt.timedelta | None) -> None:
    assert parse_offset(text) == offset
