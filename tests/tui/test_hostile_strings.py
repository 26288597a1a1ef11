"""The console shows hostile strings literally (issue 17 item 4): a server's name and metadata
set in the cloud, a request's reason and what a person types are drawn with their control
characters escaped and never read as Rich markup."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from tests.integration.control.conftest import Plane
from tui.screens import PaletteScreen
from tui.views.requests import RequestsView
from tui.views.servers import ServerScreen

from .conftest import console, loaded, wait_for
from .pilot import SIZE, drawn, open_view, raw_controls

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

MARKUP = "[red]x[/]"
HOSTILE = f"{MARKUP} \x1b[2J\x1b]0;pwned\x07\r\u202e"
SHOWN = f"{MARKUP} \\x1b[2J\\x1b]0;pwned\\x07\\r\\u202e"


@pytest.fixture(scope="module")
def hostile_server(ready: Plane) -> tuple[str, str]:
    """A PROD server whose name and metadata were set, in the cloud, to hostile text; synced."""
    site = next(s for s in default_sites() if s.name == "PROD")
    assert ready.sim.clouds_yaml is not None
    conn = connect(site, clouds_yaml=ready.sim.clouds_yaml)
    try:
        server = next(iter(conn.compute.servers(all_projects=True)))
        conn.compute.update_server(server, name="evil" + HOSTILE)
        conn.compute.set_server_metadata(server, note=HOSTILE)
    finally:
        conn.close()
    assert ready.admin.post("/sync", {"full": True})["ok"]
    return "PROD", str(server.id)


async def test_a_server_with_hostile_name_and_metadata_is_drawn_literally(
        ready: Plane, hostile_server: tuple[str, str]) -> None:
    site, server_id = hostile_server
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        app.push_screen(ServerScreen(site, server_id))
        screen = await loaded(pilot, "server")
        detail = screen.query_one("#server-detail")
        # its size follows the content at the next layout, which a loaded machine delays
        await wait_for(pilot, lambda: "note=" in drawn(detail), what="the metadata drawn")
        shown = drawn(detail)
        assert f"evil{SHOWN}" in shown and f"note={SHOWN}" in shown
        assert raw_controls(shown) == []


async def test_a_request_reason_with_markup_and_escapes_is_drawn_literally(
        ready: Plane) -> None:
    body = {"department": "gd-tax", "system": "hostile-tui", "justification": "console test",
            "servers": [{"name_prefix": "vm", "flavor": "gc.c1m2", "count": 1,
                         "image": "cirros-0.6.2-x86_64-disk",
                         "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                     "DR-REMOTE": "dr-remote-net"}}]}
    rid = ready.admin.post("/requests", body)["id"]
    ready.admin.post(f"/requests/{rid}/cancel", {"reason": "plain"})
    with ready.engine.begin() as conn:  # stored before input was checked, or by any way in
        conn.execute(text("UPDATE provision_request SET reason = :r WHERE id = :i"),
                     {"r": HOSTILE, "i": rid})
    app = console(ready)
    async with app.run_test(size=(400, 50)) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "req")
        view = await loaded(pilot, "requests")
        assert isinstance(view, RequestsView)
        await wait_for(pilot, lambda: str(rid) in view.table.keys, what="the request")
        view.table.move_to(str(rid))
        await pilot.pause()
        y = 1 + view.table.cursor - int(view.table.scroll_offset.y)
        line = "".join(seg.text for seg in view.table.render_line(y))
        assert SHOWN[:40] in line and raw_controls(line) == []


async def test_what_is_typed_into_the_palette_is_not_markup(ready: Plane) -> None:
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, MARKUP)
        await wait_for(pilot, lambda: isinstance(app.screen, PaletteScreen), what="palette")
        error = app.screen.query_one("#palette-error")
        await wait_for(pilot, lambda: "no view" in drawn(error), what="the error")
        assert f"no view '{MARKUP}'" in drawn(error)
