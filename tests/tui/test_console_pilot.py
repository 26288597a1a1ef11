"""The console driven by Textual's Pilot against a real control plane (simulator over HTTP,
SQLite, API server on loopback): navigation, the palette, filtering, drill-down and back,
the site keys, and what each role sees."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from textual.widgets._footer import FooterKey

from govcloud.client import ApiClient
from tests.integration.control.conftest import Plane
from tui.app import make_app
from tui.filtering import compile_filter
from tui.screens import HelpScreen, PaletteScreen
from tui.views.base import ConsoleFooter

from .conftest import console, loaded, settled, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def all_servers(api: ApiClient, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get("/servers", limit=1000, cursor=cursor, **filters)
        out += page["servers"]
        cursor = page["next_cursor"]
        if cursor is None:
            return out


async def test_palette_opens_views_with_completion(ready: Plane) -> None:
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        overview = await loaded(pilot, "overview")
        assert "If PROD is lost" in str(overview.query_one("#verdict").render())
        await open_view(pilot, "serv", complete=True)  # completes to "servers"
        await loaded(pilot, "servers")
        await open_view(pilot, "dept")  # an alias
        await loaded(pilot, "departments")
        await open_view(pilot, "nosuchview")
        palette = pilot.app.screen
        assert isinstance(palette, PaletteScreen)
        assert "no view 'nosuchview'" in str(palette.query_one("#palette-error").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "VIEW_NAME", "") == "departments")
        names = {s.name for s in app.specs}
        assert {"overview", "departments", "sites", "servers", "whatif", "audit"} <= names


async def servers_view(pilot: Any) -> Any:
    """The servers view, opened from the overview through the palette, once it has loaded."""
    await loaded(pilot, "overview")
    await open_view(pilot, "servers")
    return await loaded(pilot, "servers")

async def test_servers_filter_substring_regex_invert(ready: Plane) -> None:
    servers = all_servers(ready.admin)
    psd = [s for s in servers if s["name"].startswith("gd-psd-")]
    assert psd and len(psd) < len(servers)
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        view = await servers_view(pilot)
        table = view.table
        assert table.total == len(servers) == table.row_count
        await pilot.press("slash", *"gd-psd-")
        await wait_for(pilot, lambda: table.row_count == len(psd), what="substring filter")
        assert {table.cells(k)[1] for k in table.keys} == {s["name"] for s in psd}
        assert "filter: substring" in str(view.query_one("#status-line").render())
        await pilot.press(*["backspace"] * 7, "!", *"gd-psd-")
        await wait_for(pilot, lambda: table.row_count == len(servers) - len(psd),
                       what="inverted filter")
        assert not any(table.cells(k)[1].startswith("gd-psd-") for k in table.keys)
        # a regex is matched against the whole row (site, name, status, department, ...)
        await pilot.press(*["backspace"] * 8, *r"gd-(psd|tax)-[a-z]+-00[12] ")
        expected = [s for s in servers
                    if re.fullmatch(r"gd-(psd|tax)-[a-z]+-00[12]", s["name"])]
        assert 0 < len(expected) < len(psd) * 2
        await wait_for(pilot, lambda: table.row_count == len(expected), what="regex filter")
        await pilot.press("enter")   # keeps the filter, back to the list
        assert table.has_focus and table.row_count == len(expected)
        await pilot.press("escape")  # clears it
        await wait_for(pilot, lambda: table.row_count == len(servers), what="cleared filter")


async def test_each_filter_key_shows_a_fresh_filters_rows_and_the_footer_waits(
        ready: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typed one key at a time, each key of a filter (narrowing the rows the shorter text
    kept) and each backspace (widening) shows the rows a fresh filter of that text shows; the
    footer is not rebuilt while keys are being typed in the box, but once typing pauses, and
    at once when the box is left."""
    monkeypatch.setattr(ConsoleFooter, "QUIET_S", 1.5)
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        view = await servers_view(pilot)
        table = view.table
        footer = view.query_one(ConsoleFooter)
        order = table.keys

        def fresh(text: str) -> list[str]:
            f = compile_filter(text)
            return [k for k in order if f.match(table._rows[k].search)]

        def footer_keys() -> set[str]:
            return {str(k.description) for k in footer.query(FooterKey)}

        await wait_for(pilot, lambda: "sort" in footer_keys(), what="the list's keys")
        listing = footer_keys()
        await pilot.press("slash")
        typed = "gd-psd-db"
        for i in range(1, len(typed) + 1):
            await pilot.press(typed[i - 1])
            assert table.filter.text == typed[:i]
            assert table.keys == fresh(typed[:i]), typed[:i]
            await pilot.pause(0.2)  # 9 keys, 1.8 s: each one well within QUIET_S of the last
        assert 0 < table.row_count < len(order)
        assert footer_keys() == listing  # not rebuilt while typing
        await wait_for(pilot, lambda: "sort" not in footer_keys(), what="the box's keys")
        for i in range(len(typed) - 1, -1, -1):
            await pilot.press("backspace")
            assert table.keys == fresh(typed[:i]), typed[:i]
        assert table.row_count == len(order)
        await pilot.press("g", "d", "enter")  # the list again: its keys at once
        await pilot.pause()
        assert table.has_focus and footer_keys() == listing
        assert table.keys == fresh("gd")


async def test_drill_department_to_server_and_back(ready: Plane) -> None:
    psd = all_servers(ready.admin, department="gd-psd")
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "departments")
        depts = await loaded(pilot, "departments")
        assert depts.table.total == ready.admin.get("/departments")["count"]
        row = depts.table.cells("gd-psd")
        assert row[1] == "广东省公安厅" and row[2] == "Public Security Department"
        assert depts.table.move_to("gd-psd")
        await pilot.press("enter")
        dept = await loaded(pilot, "department")
        assert dept.code == "gd-psd" and dept.table.total == len(psd)
        detail = str(dept.query_one("#department-detail").render())
        assert "广东省公安厅 Public Security Department" in detail
        assert "PROD" in detail and "cores" in detail
        await pilot.press("enter")  # the first server (sorted by name)
        first = sorted(psd, key=lambda s: s["name"].lower())[0]
        server = await loaded(pilot, "server")
        text = str(server.query_one("#server-detail").render())
        assert first["name"] in text and first["id"] in text
        live = ready.admin.get(f"/servers/{first['site']}/{first['id']}")
        for ips in live["addresses"].values():
            assert all(ip in text for ip in ips)
        assert "dept:gd-psd" in text  # a tag, read live from the site
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dept, what="back to the department")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is depts, what="back to departments")


async def test_sites_host_servers_and_site_keys(ready: Plane) -> None:
    hosts = ready.admin.get("/hypervisors")["hypervisors"]
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await wait_for(pilot, lambda: len(app.site_status) == 3, what="site status")
        await open_view(pilot, "hosts")
        sites = await loaded(pilot, "sites")
        assert sites.table.total == len(hosts)
        await pilot.press("2")  # DR-LOCAL
        assert app.site == "DR-LOCAL"
        dr_local = [h for h in hosts if h["site"] == "DR-LOCAL"]
        await wait_for(pilot, lambda: sites.table.row_count == len(dr_local),
                       what="DR-LOCAL hosts")
        busiest = max(dr_local, key=lambda h: h["running_servers"])
        assert sites.table.move_to(f"DR-LOCAL/{busiest['hostname']}")
        await pilot.press("enter")
        host = await loaded(pilot, "host")
        on_host = ready.admin.get(f"/hypervisors/DR-LOCAL/{busiest['hostname']}/servers")
        assert host.table.total == len(on_host["servers"]) > 0
        assert all(host.table.cells(k)[5] == busiest["hostname"] for k in host.table.keys)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is sites, what="back to sites")
        await pilot.press("1")
        assert app.site == "PROD"
        header = str(sites.query_one("ConsoleHeader").render())
        assert "PROD ▲ PRODUCTION" in header
        await pilot.press("0")
        assert app.site is None


async def test_site_keys_filter_servers_without_refetching(ready: Plane) -> None:
    servers = all_servers(ready.admin)
    per_site = Counter(s["site"] for s in servers)
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await wait_for(pilot, lambda: len(app.site_status) == 3, what="site status")
        await open_view(pilot, "servers")
        view = await loaded(pilot, "servers")
        fetched = app.servers.version
        await pilot.press("3")
        await wait_for(pilot, lambda: view.table.row_count == per_site["DR-REMOTE"],
                       what="DR-REMOTE servers")
        assert {view.table.cells(k)[0] for k in view.table.keys} == {"DR-REMOTE"}
        assert app.servers.version == fetched  # filtered in memory


async def test_help_lists_the_keys_of_the_view(ready: Plane) -> None:
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "servers")
        await loaded(pilot, "servers")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        keys = dict(app.screen.keys)
        described = set(keys.values())
        assert {"filter", "drill in", "sort", "back", "refresh", "views", "help",
                "quit"} <= described
        assert "/" in keys and ":" in keys and "?" in keys
        assert "sync now" in described  # the admin may sync
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen), what="close")


@pytest.mark.parametrize(("role", "extra", "views", "may_sync"), [
    ("operator", {}, {"overview", "departments", "sites", "servers", "whatif", "audit",
                      "requests", "alerts"}, True),
    ("bureau-auditor", {}, {"overview", "departments", "sites", "servers", "whatif", "audit",
                            "requests", "alerts"}, False),
    ("department-viewer", {"department": "gd-psd"}, {"overview", "departments", "servers",
                                                     "requests"}, False),
    ("city-operator", {"city": "shenzhen"}, {"overview", "departments", "servers", "audit",
                                             "requests"}, False),
])
async def test_roles_see_only_what_they_may(ready: Plane, role: str, extra: dict[str, str],
                                            views: set[str], may_sync: bool) -> None:
    _name, api = ready.principal(role, **extra)
    token = api._http.headers["Authorization"].split()[1]
    app = console(ready, token=token)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        # this issue's views exactly; other issues' views (requests, alerts, migrations ...)
        # at least as listed here, since more may be registered in parallel
        mine = {"overview", "departments", "sites", "servers", "whatif", "audit"}
        names = {s.name for s in app.specs}
        assert names & mine == views & mine and views <= names
        footer_keys = {b.binding.description for b in app.screen.active_bindings.values()
                       if b.enabled}
        assert ("sync now" in footer_keys) is may_sync
        assert app.read_only is (role in ("bureau-auditor", "department-viewer"))
        def attempts() -> list[str | None]:
            return [x["last_attempt"] for x in ready.admin.get("/sync/status")["sites"]]

        before = attempts()
        await pilot.press("ctrl+s")
        if may_sync:  # a real sync ran through the API
            await wait_for(pilot, lambda: attempts() != before, what="the sync")
        else:  # the key does nothing
            await settled(pilot)
            assert attempts() == before
        await open_view(pilot, "servers")
        view = await loaded(pilot, "servers")
        visible = all_servers(api)
        assert view.table.total == len(visible)
        if role == "department-viewer":
            assert {s["department"] for s in visible} == {"gd-psd"}


async def test_unreachable_control_plane_shows_a_message_and_retries() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(server=f"http://127.0.0.1:{port}", token="gct_x", refresh_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app._retries >= 1, what="a failed connect")
        text = str(app.query_one("#connect").render())
        assert "control plane unreachable" in text and "cannot reach" in text
        assert "retrying in 2s" in text and "hint:" in text
        assert not app.connected
    assert app.return_code in (0, None)


async def test_view_fetch_failure_is_shown_and_retried(ready: Plane) -> None:
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "audit")
        view = await loaded(pilot, "audit")
        real = app.session.api
        app.session.api = ApiClient(real.server.replace("127.0.0.1", "127.0.0.2"), "gct_x",
                                    timeout=2)
        try:
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: view.last_error is not None, what="an error")
            status = str(view.query_one("#status-line").render())
            assert "retrying in" in status and "ctrl+r" in status
            assert view.table.total > 0  # the last good rows stay
        finally:
            app.session.api.close()
            app.session.api = real
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: view.last_error is None, what="recovery")
