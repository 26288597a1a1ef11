"""The console's Alerts/Health view against a real control plane and simulator: every site's
service APIs probed up with the status alerts above them, then a region down shows its APIs
down and critical alerts."""

from __future__ import annotations

import urllib.request

import pytest
from textual.widgets import Static

from tests.integration.control.conftest import Plane
from tui.views.alerts import AlertsView

from .conftest import console, loaded, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SERVICES = ("identity", "compute", "placement", "image", "network", "volume")


def region(plane: Plane, name: str, state: str) -> None:
    req = urllib.request.Request(f"{plane.sim.base_url}/_sim/regions/{name}/{state}",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10):
        pass


def panel(view: AlertsView) -> str:
    return str(view.query_one("#alerts-panel", Static).render())


async def test_probes_and_alerts_follow_a_region_going_down(ready: Plane) -> None:
    ready.admin.post("/health/probes")
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "health")
        view = await loaded(pilot, "alerts")
        assert isinstance(view, AlertsView)
        for site in ("PROD", "DR-LOCAL", "DR-REMOTE"):
            for service in SERVICES:
                cells = view.table.cells(f"{site}/{service}")
                assert cells[2] == "up" and cells[5] == "0", cells
        expected = [a["message"] for a in ready.admin.get("/status")["alerts"]]
        assert all(m in panel(view) for m in expected) and "CRITICAL" not in panel(view)

        region(ready, "DR-REMOTE", "down")
        try:
            ready.admin.post("/sync", {"full": False})
            ready.admin.post("/health/probes")
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: view.table.cells("DR-REMOTE/compute")[2] == "down",
                           what="DR-REMOTE compute down")
            assert view.table.cells("PROD/compute")[2] == "up"
            assert view.table.cells("DR-REMOTE/compute")[6]  # the error
            text = panel(view)
            assert "CRITICAL" in text and "DR-REMOTE compute API down" in text
            assert "DR-REMOTE data is stale" in text
        finally:
            region(ready, "DR-REMOTE", "up")
    assert ready.admin.post("/sync", {"full": False})["ok"]
    ready.admin.post("/health/probes")
