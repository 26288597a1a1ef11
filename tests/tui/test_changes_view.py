"""The console's `:changes` and `:calendar` views against a real control plane: an emergency
change submitted during a freeze shows as held for a bureau-admin and flagged, its title
drawn as typed; the calendar's month shows the freeze, the windows' openings and the change;
a department-viewer sees neither another department's change nor its department-only
freeze."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.control.changes_plane import calendar_text, change_body
from tests.integration.control.conftest import Plane
from tui.views.changes import CalendarView, ChangesView

from .conftest import console, loaded
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CST = dt.timezone(dt.timedelta(hours=8))
MARKUP = "[bold]pwn[/bold] quota for 汕头"


@pytest.fixture(scope="module")
def frozen(ready: Plane) -> tuple[Plane, int]:
    """A calendar with a province-wide freeze today and a gd-tax-only one, and an emergency
    change to shantou submitted during it by an operator."""
    today = ready.clock().astimezone(CST).date()
    extra = (f"  - name: console-freeze\n    from: {today - dt.timedelta(days=1)}\n"
             f"    until: {today + dt.timedelta(days=1)}\n    reason: 全国两会 sessions\n"
             f"  - name: tax-only\n    from: {today}\n    until: {today}\n"
             "    reason: filing deadline\n    departments: [gd-tax]\n")
    ready.admin.post("/calendar", {"document": calendar_text("console.1", extra)})
    ready.approver.post("/calendar/console.1/approve")
    _, operator = ready.principal("operator")
    now = ready.clock()
    change = operator.post("/changes", change_body(["shantou"], now, now + dt.timedelta(hours=2),
                                                   type_="emergency", title=MARKUP))
    return ready, int(change["id"])


async def test_the_changes_view_shows_a_held_emergency_and_its_flags(
        frozen: tuple[Plane, int]) -> None:
    plane, cid = frozen
    app = console(plane)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "changes")
        view = await loaded(pilot, "changes")
        assert isinstance(view, ChangesView)
        cells = view.table.cells(str(cid))
        assert cells[1:4] == ("submitted", "emergency", "tenancy-apply")
        assert cells[6:9] == ("shantou", "0/1", "awaiting-review,in-freeze")
        assert cells[9] == MARKUP  # drawn as typed, not as markup


async def test_the_calendar_view_shows_the_month(frozen: tuple[Plane, int]) -> None:
    plane, cid = frozen
    app = console(plane)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "cal")
        view = await loaded(pilot, "calendar")
        assert isinstance(view, CalendarView)
        freeze = view.table.cells("f-console-freeze")
        assert freeze[0] == "freeze" and freeze[4] == "province-wide"
        assert freeze[5] == "全国两会 sessions"
        assert view.table.cells("f-tax-only")[4] == "gd-tax"
        assert view.table.cells(f"c{cid}")[1] == f"#{cid} submitted"
        assert view.table.cells("w0")[1] == "weekly-saturday"


async def test_a_department_viewer_sees_only_its_own(frozen: tuple[Plane, int]) -> None:
    plane, cid = frozen
    _name, api = plane.principal("department-viewer", department="gd-psd")
    token = api._http.headers["Authorization"].split()[1]
    app = console(plane, token=token)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "calendar")
        view = await loaded(pilot, "calendar")
        keys = set(view.table.keys)
        assert "f-console-freeze" in keys and "f-tax-only" not in keys
        assert f"c{cid}" not in keys
        await open_view(pilot, "changes")
        changes = await loaded(pilot, "changes")
        assert str(cid) not in set(changes.table.keys)
