"""The console's reads over real HTTP (small simulator, SQLite and PostgreSQL):
``/hypervisors`` and a host's servers equal the simulator; ``/servers/{site}/{id}`` adds
what the site says now (addresses, metadata, tags) and keeps the stored figures when the site
is down; ``/usage`` equals the stored quotas; each narrowed or refused per role."""

from __future__ import annotations

from typing import Any

import pytest

from govcloud.domain.capacity import site_capacity
from govcloud.errors import Forbidden, NotFound
from govcloud.store.inventory import hosts

from .conftest import Plane

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return plane


def test_hypervisors_equal_the_simulator(synced: Plane) -> None:
    answer = synced.admin.get("/hypervisors")
    cloud = synced.sim.sim.cloud
    by_key = {(h["site"], h["hostname"]): h for h in answer["hypervisors"]}
    assert set(by_key) == {(site, hv.hostname) for site, r in cloud.regions.items()
                           for hv in r.hypervisors.values()}
    for site, region in cloud.regions.items():
        with synced.engine.connect() as conn:
            total = site_capacity(site, hosts(conn, site))
        mine = [h for h in answer["hypervisors"] if h["site"] == site]
        assert sum(h["vcpus"]["allocated"] for h in mine) == total.vcpu.allocated
        assert sum(h["ram_mb"]["capacity"] for h in mine) == total.ram_mb.capacity
        for hv in region.hypervisors.values():
            h = by_key[(site, hv.hostname)]
            assert (h["state"], h["status"]) == (hv.state, hv.status)
            assert h["running_servers"] == len(hv.servers)
            assert h["vcpus"]["allocated"] == hv.provider.used.get("VCPU", 0)
        down = sum(1 for s in region.services.values()
                   if not s.is_up or s.forced_down)
        assert answer["services_down"][site] == down
    only = synced.admin.get("/hypervisors", site="DR-REMOTE", hosts=False)
    assert only["hypervisors"] == [] and list(only["services_down"]) == ["DR-REMOTE"]
    with pytest.raises(NotFound, match="no site named 'MARS'"):
        synced.admin.get("/hypervisors", site="MARS")


def test_a_hosts_servers(synced: Plane) -> None:
    region = synced.sim.sim.cloud.regions["PROD"]
    hv = max(region.hypervisors.values(), key=lambda h: len(h.servers))
    answer = synced.admin.get(f"/hypervisors/PROD/{hv.hostname}/servers")
    assert {s["id"] for s in answer["servers"]} == set(hv.servers)
    assert all(s["host"] == hv.hostname for s in answer["servers"])
    names = [s["name"] for s in answer["servers"]]
    assert names == sorted(names)
    assert synced.admin.get("/hypervisors/PROD/no-such-host/servers")["servers"] == []


def _one(plane: Plane, department: str) -> dict[str, Any]:
    page = plane.admin.get("/servers", department=department, site="PROD", limit=1)
    return dict(page["servers"][0])


def test_one_server_live_and_when_its_site_is_down(synced: Plane) -> None:
    s = _one(synced, "gd-psd")
    sim = synced.sim.sim.cloud.regions["PROD"].servers[s["id"]]
    answer = synced.admin.get(f"/servers/PROD/{s['id']}")
    assert answer["name"] == s["name"] and answer["live_error"] is None
    assert answer["metadata"] == dict(sim.metadata)
    assert sorted(answer["tags"]) == sorted(sim.tags)
    assert answer["addresses"] and all(answer["addresses"].values())
    faults = synced.sim.sim.faults
    faults.down.add("PROD")
    try:
        stored = synced.admin.get(f"/servers/PROD/{s['id']}")
    finally:
        faults.down.discard("PROD")
    assert stored["name"] == s["name"] and stored["flavor"] == s["flavor"]
    assert stored["addresses"] is None and stored["live_error"]
    with pytest.raises(NotFound):
        synced.admin.get("/servers/PROD/not-a-server")
    with pytest.raises(NotFound):
        synced.admin.get(f"/servers/MARS/{s['id']}")


def test_scoped_principals_see_only_their_own(synced: Plane) -> None:
    _n, viewer = synced.principal("department-viewer", department="gd-psd")
    own, other = _one(synced, "gd-psd"), _one(synced, "gd-tax")
    assert viewer.get(f"/servers/PROD/{own['id']}")["id"] == own["id"]
    with pytest.raises(NotFound):  # another department's server does not exist for it
        viewer.get(f"/servers/PROD/{other['id']}")
    with pytest.raises(Forbidden):
        viewer.get("/hypervisors")
    with pytest.raises(Forbidden):
        viewer.get(f"/hypervisors/PROD/{own['host']}/servers")
    assert set(viewer.get("/usage")["departments"]) == {"gd-psd"}
    _n, city = synced.principal("city-operator", city="shenzhen")
    assert set(city.get("/usage")["departments"]) == {"shenzhen"}


def test_usage_equals_the_stored_quotas(synced: Plane) -> None:
    usage = synced.admin.get("/usage")["departments"]
    view = synced.admin.get("/departments/gd-psd")
    for site in view["sites"]:
        mine = usage["gd-psd"][site["site"]]
        assert mine["quotas"]["cores"] == site["quotas"]["cores"]
        assert mine["quotas"]["instances"] == site["quotas"]["instances"]
        assert mine["servers"] == site["servers"]["total"]
    psd = synced.admin.get("/servers", department="gd-psd", limit=1000)["servers"]
    newest = max(s["updated"] for s in psd if s["site"] == "PROD")
    assert usage["gd-psd"]["PROD"]["last_change"] == newest
