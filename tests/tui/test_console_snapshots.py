"""Snapshots of the console's main views (pytest-textual-snapshot, pinned with Textual in
pyproject.toml) on fixed demo data: the small simulator with seed 42, synced through a real
control plane, the console's clock fixed. Two things of the live run are normalised before
the picture is taken: the server URL (a free port) and the sync times in the header.

Update after an intended change with ``pytest tests/tui/test_console_snapshots.py
--snapshot-update``, look at the SVGs, and copy the ones docs/console.md shows to docs/img/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.integration.control.conftest import Plane
from tui.app import ConsoleApp

from .conftest import FIXED_NOW, console, loaded, settled, wait_for

pytestmark = pytest.mark.slow

SIZE = (160, 44)


def fixed_console(plane: Plane, **kwargs: Any) -> ConsoleApp:
    app = console(plane, clock=lambda: FIXED_NOW, prefetch_servers=True, **kwargs)
    app.session.api.server = "http://127.0.0.1:8780"  # the header shows this (display only)
    return app


def normalise(app: ConsoleApp) -> None:
    synced = (FIXED_NOW - dt.timedelta(seconds=20)).isoformat()
    for s in app.site_status:
        s["data_as_of"] = synced


def before(view: str, *keys: str, then: str | None = None) -> Any:
    async def run(pilot: Any) -> None:
        app = pilot.app
        await loaded(pilot, "overview")
        await wait_for(pilot, lambda: len(app.site_status) == 3, what="site status")
        await wait_for(pilot, lambda: app.servers.ready, what="the servers")
        if view != "overview":
            await pilot.press("colon", *view, "enter")
            await loaded(pilot, view)
        if keys:
            await pilot.press(*keys)
        if then is not None:
            await loaded(pilot, then)
        await settled(pilot)
        normalise(app)
        for header in app.screen.query("ConsoleHeader"):
            header.redraw()  # type: ignore[attr-defined]
        await pilot.pause()

    return run


def test_overview(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE, run_before=before("overview"))


def test_overview_in_chinese(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready, lang="zh"), terminal_size=SIZE,
                        run_before=before("overview"))


def test_departments_chinese_and_english_names(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("departments"))


def test_servers_filtered(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("servers", "slash", *"gd-psd", "enter"))


def test_sites_prod_in_view(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("sites", "1"))


def test_what_if_lose_prod(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("whatif"))
