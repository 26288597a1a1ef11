"""What the console's snapshot tests share (``test_console_snapshots.py``,
``test_dr_snapshot.py``): the terminal size, a console with its clock fixed and the server URL
it shows normalised, and the keys that bring a view on screen before the picture is taken."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.integration.control.conftest import Plane
from tui.app import ConsoleApp
from tui.session import Session

from .conftest import FIXED_NOW, console, loaded, settled, wait_for

SIZE = (160, 44)


def fixed_console(plane: Plane, **kwargs: Any) -> ConsoleApp:
    app = console(plane, clock=lambda: FIXED_NOW, prefetch_servers=True, **kwargs)
    app.session.__class__ = _FixedServer  # the header shows a fixed URL (display only)
    return app


class _FixedServer(Session):
    """The console's session with the URL the header shows fixed (the plane's port varies;
    requests still go to the plane)."""

    @property
    def server(self) -> str:
        return "http://127.0.0.1:8780"


def normalise(app: ConsoleApp) -> None:
    """The header's sync times, and their health: synced 20 s before the fixed clock (a test
    that moves the server's clock, as the DR one does, would show every site stale)."""
    synced = (FIXED_NOW - dt.timedelta(seconds=20)).isoformat()
    for s in app.site_status:
        s["data_as_of"] = synced
        s["health"] = "ok"


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
