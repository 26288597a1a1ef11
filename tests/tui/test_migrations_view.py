"""The console's Migrations view against a real control plane: waves with their gate and
each host's readiness and step, and the live event log of a real (failing) run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tests.integration.control.conftest import Plane
from tui.views.migrations import MigrationsView

from .conftest import console, loaded, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def _inventory() -> str:
    # nothing listens on port 1: every SSH attempt is refused at once
    return yaml.safe_dump({"all": {"vars": {"govcloud_department": "gd-edu"}, "hosts": {
        "edu-tui1": {"ansible_host": "127.0.0.1", "ansible_port": 1, "govcloud_system": "exam",
                     "govcloud_data_paths": ["/srv/exam"]}}}})


async def test_waves_hosts_and_the_event_log(ready: Plane) -> None:
    admin = ready.admin
    admin.post("/hosts/import", {"text": _inventory(), "name": "gd-edu.yaml"})
    opened = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()  # the window is open
    wave = admin.post("/migrate/plan", {"department": "gd-edu",
                                        "first_window": opened})["waves"][0]["wave"]
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "waves")
        view = await loaded(pilot, "migrations")
        assert isinstance(view, MigrationsView)
        key = f"{wave}/edu-tui1"
        cells = view.table.cells(key)
        assert cells[0] == f"{wave} (R)" and cells[2] == "planned" and cells[3] == "closed"
        assert cells[7] == "precheck" and cells[8] == "pending" and cells[9] == "legacy"
        assert int(cells[6]) < 100 and "not surveyed" in cells[10]
        # a bureau-admin overrides the gate and runs it: the host is unreachable
        admin.post(f"/migrate/waves/{wave}/override", {"reason": "console test"})
        admin.post(f"/migrate/waves/{wave}/run")

        def failed() -> bool:
            view.reload()
            return view.table.cells(key)[8] == "failed"

        await wait_for(pilot, failed, timeout=60, what="the precheck to fail")
        assert view.table.cells(key)[3] == "override"
        log = view.query_one("#events")
        await wait_for(pilot, lambda: "unreachable" in "\n".join(log.lines),  # type: ignore[attr-defined]
                       what="the event log")
