"""The console's `:reports` view against a real control plane with a seeded month
(tests/unit/services/statements_seed.py: November 2026 priced with the example sheet): the
statement totals per department largest first with the total above, `s`/`S` sorting, `[`/`]`
moving between months, `c` toggling the operator scorecard, Enter opening one department's
statement, a department-viewer seeing only its department and no scorecard, a month no
price sheet covers showing the server's message and hint, and a department code and a gap
reason holding Rich markup drawn as typed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from govcloud.domain.metering import Month, Resource, UsageKind, UsageRow
from govcloud.store import metering_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.conftest import Plane
from tests.unit.services.statements_seed import AFTER, NOV, seed
from tui.views.reports import NO_DEPARTMENT, ReportsView, StatementScreen

from .conftest import console, loaded, settled, wait_for
from .pilot import SIZE, drawn, open_view, raw_controls

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

MARKUP = "[bold]pwn[/bold]\x1b[2J"  # a department code and a gap reason from elsewhere
SHOWN = "[bold]pwn[/bold]\\x1b[2J"
DEC_2025 = Month(2025, 12)  # before the example sheet's first day


def _usage(month: Month, department: str, site: str) -> list[UsageRow]:
    """One m1.small for the month's first hour: 0.08 + 0.04 + 0.002 = 0.12 at the example's
    prices, no DR surcharge (no catalogue department)."""
    return [UsageRow(month.start, department, site, "m1.small", UsageKind.PRIMARY, r,
                     Decimal(q)) for r, q in ((Resource.SERVERS, 1), (Resource.VCPU, 1),
                                              (Resource.RAM_GIB, 2), (Resource.DISK_GB, 20))]


@pytest.fixture(scope="module")
def seeded(ready: Plane) -> Plane:
    """November seeded, plus a department of a hostile code in DR-LOCAL, a gap there with a
    hostile reason, and usage in December 2025, which no approved sheet covers; the server's
    clock just after November."""
    ready.clock.offset = AFTER - utcnow()
    seed(ready.engine)
    with write_begin(ready.engine) as conn:
        metering_repo.replace_month(conn, "DR-LOCAL", NOV, _usage(NOV, MARKUP, "DR-LOCAL"),
                                    [NOV.start], at=AFTER)
        metering_repo.record_gap(conn, "DR-LOCAL", NOV.start + dt.timedelta(hours=1), MARKUP)
        metering_repo.replace_month(conn, "PROD", DEC_2025, _usage(DEC_2025, "gd-tax", "PROD"),
                                    [DEC_2025.start], at=AFTER)
    return ready


def app_at(plane: Plane, now: dt.datetime = AFTER, **kwargs: Any) -> Any:
    return console(plane, clock=lambda: now, **kwargs)


async def reports_view(pilot: Any) -> ReportsView:
    await loaded(pilot, "overview")
    await open_view(pilot, "reports")
    view = await loaded(pilot, "reports")
    assert isinstance(view, ReportsView)
    return view


def order(view: ReportsView) -> list[str]:
    return [view.table.keys[i] for i in range(view.table.row_count)]


async def test_totals_per_department_largest_first_with_the_total_above(
        seeded: Plane) -> None:
    expected = seeded.admin.statements("statements", "2026-11")
    totals = {s.department or NO_DEPARTMENT: s for s in expected.statements}
    app = app_at(seeded)
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        assert view.month == str(NOV)  # the previous calendar month of the console's clock
        keys = order(view)
        assert keys[:4] == ["gd-tax", "shenzhen", NO_DEPARTMENT, MARKUP]
        tax = view.table.cells("gd-tax")
        assert tax[0] == "gd-tax" and tax[2] == "(provincial)"
        assert tax[3] == "3.04" and tax[3:6] == (totals["gd-tax"].base,
                                                 totals["gd-tax"].surcharge,
                                                 totals["gd-tax"].total)
        assert tax[6] == "open" and tax[7] == str(len(totals["gd-tax"].gaps))
        assert view.table.cells("shenzhen")[2:4] == ("shenzhen", "2.25")
        assert view.table.cells(NO_DEPARTMENT)[1:6] == ("(no department)", "(provincial)",
                                                        "0.24", "0.00", "0.24")
        assert len(keys) == len(expected.statements)
        panel = drawn(view.query_one("#reports-totals"))
        assert "month 2026-11" in panel and "not closed" in panel
        assert (f"province: {expected.province.departments} departments — base "
                f"{expected.province.base}, DR surcharge {expected.province.surcharge}, "
                f"total {expected.province.total} CNY") in panel
        assert "price sheets: 2026.1" in panel and f"gaps: {len(expected.gaps)} runs" in panel
        await pilot.press("S")  # the total, smallest first
        await wait_for(pilot, lambda: not view.table.sort_reverse, what="the reverse sort")
        assert order(view)[-1] == "gd-tax" and view.table.cells(order(view)[0])[5] == "0.00"
        await pilot.press("s", "s", "s")  # month, gaps, then the department A→Z
        await wait_for(pilot, lambda: view.table.sort_column == 0, what="the sort")
        assert order(view) == sorted(keys)


async def test_months_back_and_forth_and_the_scorecard(seeded: Plane) -> None:
    app = app_at(seeded)
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        await pilot.press("right_square_bracket")  # December: under way, no sheet problem
        await wait_for(pilot, lambda: view.report is not None and view.report.month
                       == "2026-12", what="December")
        await pilot.press("right_square_bracket")  # nothing after the month under way
        await settled(pilot)
        assert view.month == "2026-12" and "no later month" in drawn(
            view.query_one("#status-line"))
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: view.report is not None and view.report.month
                       == "2026-11", what="November again")
        assert order(view)[0] == "gd-tax"
        await pilot.press("c")
        await wait_for(pilot, lambda: "operator scorecard 2026-11" in drawn(
            view.query_one("#scorecard-detail")), what="the scorecard")
        card = seeded.admin.scorecard("2026-11")
        text = drawn(view.query_one("#scorecard-detail"))
        assert not view.table.display
        for section in ("availability", "requests", "dr", "capacity"):
            assert section in text.splitlines()
        prod = next(line for line in text.splitlines() if "PROD API" in line)
        figure = next(f for f in card.figures if f.name == "PROD API")
        assert figure.value in prod and figure.target in prod
        assert ("met" if figure.met else "MISSED") in prod
        assert f"{card.met} met, {card.missed} missed" in text
        await pilot.press("c")  # back to the statements
        await wait_for(pilot, lambda: view.table.display and view.table.row_count > 0,
                       what="the statements again")
        closed = seeded.admin.close_month("2026-10").closed
        await pilot.press("left_square_bracket")  # October, closed: served frozen
        await wait_for(pilot, lambda: view.report is not None and view.report.month
                       == "2026-10", what="October")
        assert {view.table.cells(k)[6] for k in order(view)} == {"closed"}
        panel = drawn(view.query_one("#reports-totals"))
        assert f"closed {closed.closed_at[:10]}" in panel and closed.digest[:19] in panel


async def test_enter_opens_a_department_statement(seeded: Plane) -> None:
    app = app_at(seeded)
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        view.table.move_to("shenzhen")
        await pilot.press("enter")
        screen = await loaded(pilot, "statement")
        assert isinstance(screen, StatementScreen)
        text = drawn(screen.query_one("#statement-detail"))
        lines = text.splitlines()
        assert lines[0].startswith("shenzhen") and "month 2026-11" in lines[0]
        assert "base 2.25" in lines[1] and "price sheets: 2026.1" in lines[1]
        line = next(x for x in lines if "m1.large" in x)
        assert "servers" in line and "0.45" in line and line.rstrip().endswith("2.70")
        assert any("timeout" in x and "PROD" in x for x in lines)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the list")


async def test_a_department_viewer_sees_its_department_and_no_scorecard(
        seeded: Plane) -> None:
    _, api = seeded.principal("department-viewer", department="gd-tax")
    token = api._http.headers["Authorization"].split()[1]
    app = app_at(seeded, token=token)
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        assert order(view) == ["gd-tax"]
        assert "shown: 1 departments" in drawn(view.query_one("#reports-totals"))
        assert "scorecard" not in drawn(view.query_one("ConsoleFooter"))
        await pilot.press("c")
        await settled(pilot)
        assert view.table.display and not view.showing_scorecard


async def test_a_month_no_sheet_prices_shows_the_message_and_hint(seeded: Plane) -> None:
    app = app_at(seeded, dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        assert view.month == str(DEC_2025) and view.table.row_count == 0
        panel = drawn(view.query_one("#reports-totals"))
        assert "no approved price sheet is in effect on 2025-12-01" in panel
        assert "hint: propose and approve a sheet covering the month" in panel
        await pilot.press("left_square_bracket")  # November 2025: nothing used, nothing due
        await wait_for(pilot, lambda: view.report is not None, what="November 2025")
        assert "no approved price sheet" not in drawn(view.query_one("#reports-totals"))


async def test_a_department_and_a_reason_with_markup_are_drawn_as_typed(
        seeded: Plane) -> None:
    app = app_at(seeded)
    async with app.run_test(size=(400, 50)) as pilot:
        view = await reports_view(pilot)
        view.table.move_to(MARKUP)
        await pilot.pause()
        y = 1 + view.table.cursor - int(view.table.scroll_offset.y)
        line = "".join(seg.text for seg in view.table.render_line(y))
        assert SHOWN in line and raw_controls(line) == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, StatementScreen),
                       what="the statement")
        screen = app.screen
        await wait_for(pilot, lambda: screen.loads > 0, what="the statement read again")
        text = drawn(screen.query_one("#statement-detail"))
        assert text.startswith(SHOWN) and raw_controls(text) == []
        assert any("DR-LOCAL" in x and SHOWN in x for x in text.splitlines()[1:])  # the gap
        header = drawn(screen.query_one("ConsoleHeader"))
        assert SHOWN in header and raw_controls(header) == []


async def test_in_chinese_and_keys_typed_in_the_filter_stay_there(seeded: Plane) -> None:
    app = app_at(seeded, lang="zh")
    async with app.run_test(size=SIZE) as pilot:
        view = await reports_view(pilot)
        header = drawn(view.table)
        assert "灾备附加费" in header and "合计" in header
        assert "全省：" in drawn(view.query_one("#reports-totals"))
        await pilot.press("slash", "c", "[", "z")  # the filter's text, not the view's keys
        await wait_for(pilot, lambda: view.table.filter.text == "c[z", what="the filter")
        assert not view.showing_scorecard and view.month == str(NOV)
