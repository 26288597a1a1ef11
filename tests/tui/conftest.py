"""The console against a real control plane: the simulator (small scale, seed 42), SQLite,
the API server in a thread on loopback, the catalogue applied and a full sync done — the
same plane as ``tests/integration/control`` (its fixtures), on SQLite only (the store's
PostgreSQL behaviour is the API tests' business)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.control.conftest import Plane
from tests.integration.control.conftest import plane as plane  # a fixture, re-exported
from tests.integration.control.conftest import plane_settings as plane_settings
from tests.integration.control.conftest import plane_workers as plane_workers
from tui.app import ConsoleApp, make_app

FIXED_NOW = dt.datetime(2026, 11, 28, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def plane_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'govcloud.db'}"


@pytest.fixture(scope="module")
def ready(plane: Plane) -> Plane:
    """The plane with the catalogue applied and every site fully synced."""
    plane.admin.post("/tenants/apply")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    return plane


def console(plane: Plane, token: str | None = None, **kwargs: Any) -> ConsoleApp:
    kwargs.setdefault("refresh_s", 3600.0)  # tests refresh explicitly (ctrl+r)
    return make_app(server=plane.url, token=token or plane.admin_token, **kwargs)


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 15.0,
                   what: str = "condition") -> None:
    """Pause the pilot until ``condition()`` is true (no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def settled(pilot: Any, timeout: float = 30.0) -> None:
    """Wait until the console has handled what came before: its pending messages processed,
    every worker they started (API calls on threads) finished, and the messages those posted
    processed too. A check that something did NOT happen is only meaningful after this — a
    fixed pause on a loaded machine may end before the unwanted call was even made."""
    app = pilot.app
    await pilot.pause()
    await wait_for(pilot, lambda: all(w.is_finished for w in app.workers), timeout,
                   "the console's workers to finish")
    await pilot.pause()


async def loaded(pilot: Any, view_name: str, timeout: float = 15.0) -> Any:
    """Wait until the current screen is ``view_name`` and has shown its data once."""
    app = pilot.app
    await wait_for(pilot, lambda: getattr(app.screen, "VIEW_NAME", None) == view_name
                   and getattr(app.screen, "loads", 0) > 0, timeout, f"view {view_name}")
    return app.screen
