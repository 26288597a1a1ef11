"""The console's `:dr` view against a real control plane with seeded DR records: the systems
worst verdict first with their RPO, last drill and reason, the totals above, `s` cycling the
sort, Enter opening one system (its copies site by site, each copy server's state and
recent recovery points, its drills), a department-viewer seeing only its own department, and
a system name holding Rich markup drawn as typed."""

from __future__ import annotations

from typing import Any

import pytest

from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.conftest import Plane
from tests.unit.services.dr_seed import NOW, protected, request
from tui.views.dr import DrSystemScreen, DrView

from .conftest import console, loaded, wait_for
from .pilot import SIZE, drawn, open_view, raw_controls

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

MARKUP = "[bold]pwn[/bold]\x1b[2J"  # a system name stored by someone else's hand
SHOWN = "[bold]pwn[/bold]\\x1b[2J"


@pytest.fixture(scope="module")
def seeded(ready: Plane) -> Plane:
    """gd-psd/case compliant, gd-tax/ledger missing a copy, guangzhou/portal's cold copy
    running (at risk), gd-data's system of a hostile name whose request no longer reads; the
    server's clock at the seeds' NOW."""
    ready.clock.offset = NOW - utcnow()
    with write_begin(ready.engine) as conn:
        protected(conn, "gd-psd", "case")
        protected(conn, "gd-tax", "ledger", skip=("DR-REMOTE", "ledger-vm-2"))
        protected(conn, "guangzhou", "portal", statuses={"DR-REMOTE": "ACTIVE"})
        request(conn, "gd-data", MARKUP, servers=1)
    return ready


async def dr_view(pilot: Any) -> DrView:
    await loaded(pilot, "overview")
    await open_view(pilot, "dr")
    view = await loaded(pilot, "dr")
    assert isinstance(view, DrView)
    return view


def order(view: DrView) -> list[str]:
    return [view.table.keys[i] for i in range(view.table.row_count)]


async def test_systems_worst_first_with_totals_and_sort(seeded: Plane) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        view = await dr_view(pilot)
        keys = order(view)
        assert keys[:2] == [f"gd-data/{MARKUP}", "gd-tax/ledger"]  # non-compliant first
        assert keys[2:] == ["guangzhou/portal", "gd-psd/case"]
        ledger = view.table.cells("gd-tax/ledger")
        assert ledger[:4] == ("non-compliant", "gd-tax", "ledger", "5")
        assert ledger[4] == "10m / 30m" and ledger[5] == "2026-10-01"
        assert ledger[6] == "1h / 2d" and ledger[7] == "passed"
        assert ledger[8] == "DR-REMOTE (cold copy): 1 of 2 servers missing (ledger-vm-2)"
        assert view.table.cells("guangzhou/portal")[0] == "at risk"
        totals = drawn(view.query_one("#dr-totals"))
        assert "province: 4 systems — 2 non-compliant, 1 at risk, 1 compliant" in totals
        assert "2 of 4 departments with a non-compliant system: gd-data, gd-tax" in totals
        await pilot.press("s")  # the next column: departments A→Z
        await wait_for(pilot, lambda: view.table.sort_column == 1, what="the sort")
        assert [k.split("/")[0] for k in order(view)] == [
            "gd-data", "gd-psd", "gd-tax", "guangzhou"]


async def test_enter_opens_a_system_with_its_copy_servers_points_and_drills(
        seeded: Plane) -> None:
    app = console(seeded)
    async with app.run_test(size=SIZE) as pilot:
        view = await dr_view(pilot)
        view.table.move_to("gd-tax/ledger")
        await pilot.press("enter")
        screen = await loaded(pilot, "dr-system")
        assert isinstance(screen, DrSystemScreen)
        text = drawn(screen.query_one("#dr-system-detail"))
        assert "gd-tax / ledger" in text and "NON-COMPLIANT" in text
        assert "targets: RPO 30m, RTO 2d; drill every 6 months; drill: ok 2027-04-01" in text
        lines = text.splitlines()
        remote = next(i for i, line in enumerate(lines) if line.strip().startswith("DR-REMOTE"))
        assert "cold" in lines[remote] and "missing" in lines[remote]
        assert any("ledger-vm-2" in line and "missing" in line and "no server in this site"
                   in line for line in lines[remote:])
        local = next(i for i, line in enumerate(lines) if line.strip().startswith("DR-LOCAL"))
        assert "hot" in lines[local] and "present" in lines[local] and "RPO 10m" in lines[local]
        assert any("ledger-vm-1" in line and "ACTIVE" in line and "gc.c4m8" in line
                   for line in lines[local:remote])
        assert any("2026-12-07 11:50" in line and "ok" in line and "file-sync" in line
                   for line in lines[local:remote])
        drills = lines.index(next(line for line in lines if line.strip() == "drills:"))
        assert "2026-10-01 00:00" in lines[drills + 1] and "passed" in lines[drills + 1]
        assert "RTO 1h" in lines[drills + 1]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the list")


async def test_a_department_viewer_sees_only_its_department(seeded: Plane) -> None:
    _, api = seeded.principal("department-viewer", department="gd-tax")
    token = api._http.headers["Authorization"].split()[1]
    app = console(seeded, token=token)
    async with app.run_test(size=SIZE) as pilot:
        view = await dr_view(pilot)
        assert order(view) == ["gd-tax/ledger"]
        assert "shown: 1 systems — 1 non-compliant" in drawn(view.query_one("#dr-totals"))


async def test_a_system_name_with_markup_is_drawn_as_typed(seeded: Plane) -> None:
    app = console(seeded, lang="en")
    async with app.run_test(size=(400, 50)) as pilot:
        view = await dr_view(pilot)
        key = f"gd-data/{MARKUP}"
        view.table.move_to(key)
        await pilot.pause()
        y = 1 + view.table.cursor - int(view.table.scroll_offset.y)
        line = "".join(seg.text for seg in view.table.render_line(y))
        assert SHOWN in line and raw_controls(line) == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DrSystemScreen),
                       what="the system screen")
        screen = app.screen
        text = drawn(screen.query_one("#dr-system-detail"))
        assert f"gd-data / {SHOWN}" in text and raw_controls(text) == []
        header = drawn(screen.query_one("ConsoleHeader"))
        assert SHOWN in header and raw_controls(header) == []
        # the name is no identifier: the server refuses the detail, and says so as text
        await wait_for(pilot, lambda: screen.last_error is not None, what="the refusal")
        status = drawn(screen.query_one("#status-line"))
        assert raw_controls(status) == []
