"""The server list refreshes by changes: after the first full load, a refresh asks the
control plane only for what changed since (``GET /servers?changed_since=``) and patches the
list — one server stopped and one deleted in the cloud come over the wire as two entries,
not 100-odd servers again — and the list shows both."""

from __future__ import annotations

from collections.abc import Iterator

import openstack
import openstack.config
import openstack.connection
import pytest

from govcloud.sim.clouds import ADMIN_CLOUD
from tests.integration.control.conftest import Plane

from .conftest import console, loaded, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


@pytest.fixture
def prod(ready: Plane) -> Iterator[openstack.connection.Connection]:
    config = openstack.config.OpenStackConfig(config_files=[str(ready.sim.clouds_yaml)])
    conn = openstack.connection.Connection(
        config=config.get_one(cloud=ADMIN_CLOUD, region_name="PROD"))
    yield conn
    conn.close()


async def test_a_refresh_after_one_change_fetches_only_the_change(
        ready: Plane, prod: openstack.connection.Connection) -> None:
    total = sum(len(r.servers) for r in ready.sim.sim.cloud.regions.values())
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "servers")
        view = await loaded(pilot, "servers")
        await wait_for(pilot, lambda: view.table.total == total, what="every server")
        cache = app.servers
        assert (cache.full_sites, cache.received) == (3, total)  # the first load: all

        active = sorted(k for k in view.table.keys
                        if k.startswith("PROD/") and view.table.cells(k)[2] == "ACTIVE")
        stopped, victim = active[0], active[1]
        prod.compute.stop_server(stopped.split("/", 1)[1])
        prod.compute.wait_for_server(prod.compute.get_server(stopped.split("/", 1)[1]),
                                     status="SHUTOFF", wait=30)
        prod.compute.delete_server(victim.split("/", 1)[1])
        assert ready.admin.post("/sync", {"sites": ["PROD"]})["ok"]

        version = cache.version
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: cache.version > version, what="the refresh")
        assert (cache.full_sites, cache.received) == (0, 2)  # the two changes, no more
        await wait_for(pilot, lambda: view.table.total == total - 1, what="one server fewer")
        assert view.table.cells(stopped)[2] == "SHUTOFF"
        assert victim not in set(view.table.keys)

        version = cache.version
        await pilot.press("ctrl+r")  # nothing changed since: nothing comes
        await wait_for(pilot, lambda: cache.version > version, what="the second refresh")
        assert (cache.full_sites, cache.received) == (0, 0)
        assert view.table.total == total - 1
