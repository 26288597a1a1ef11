"""Host maintenance against the real cloud: `govcloud host drain` disables a PROD compute
host's nova-compute service, live-migrates its running server and cold-migrates (and
confirms) its shut-off one to the other host — real Nova, real Placement — marks the host in
maintenance, which takes it out of govcloud's capacity, and `govcloud host restore` enables the
service again. The simulator's version is tests/integration/control/test_host_drain.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from govcloud.client import ApiClient

from .cloud import FLAVORS, IMAGE, NETWORK
from .conftest import Plane, RealCloud, delete_system

SITE = "PROD"
HOST = "prod-cmp-01"
OTHER = "prod-cmp-02"
WAIT = 180.0


def _wait(conn: Any, sid: str, status: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        s = conn.compute.get_server(sid)
        if s.status == status and not s.task_state:
            return s
        assert s.status != "ERROR", (sid, s.fault)
        assert time.monotonic() < deadline, f"{sid} still {s.status}/{s.task_state}"
        time.sleep(1)


def _enable(conn: Any, host: str) -> None:
    """HOST's nova-compute enabled again (a run that failed mid-drain leaves it disabled, and
    the cloud outlives the run)."""
    service = next(conn.compute.services(binary="nova-compute", host=host))
    if service.status != "enabled":
        answer = conn.compute.put(f"/os-services/{service.id}", json={"status": "enabled"},
                                  microversion="2.53")
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def servers(real: RealCloud) -> Iterator[list[str]]:
    """A running and a shut-off server forced onto HOST (admin's project), the only servers
    of the site: what earlier runs left there is deleted first (as test_inventory does), so
    that nothing on HOST is pinned there by anti-affinity or caught mid-build."""
    conn = real.sdk(SITE)
    old = list(conn.compute.servers(all_projects=True))
    for s in old:
        conn.compute.delete_server(s)
    for s in old:
        conn.compute.wait_for_delete(s, wait=120)
    _enable(conn, HOST)
    flavor = conn.compute.find_flavor(FLAVORS[0][0])
    image = conn.image.find_image(IMAGE)
    net = conn.network.find_network(NETWORK)
    made = [conn.compute.create_server(
        name=f"drain-{n}", flavor_id=flavor.id, image_id=image.id, networks=[{"uuid": net.id}],
        availability_zone=f"nova:{HOST}") for n in (1, 2)]
    ids = [str(s.id) for s in made]
    try:
        for sid in ids:
            _wait(conn, sid, "ACTIVE")
        conn.compute.stop_server(ids[1])
        _wait(conn, ids[1], "SHUTOFF")
        yield ids
    finally:
        delete_system(real, "admin", "drain")
        _enable(conn, HOST)


def _drain_ended(api: ApiClient, drain_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        d: dict[str, Any] = api.get(f"/hosts/drains/{drain_id}")
        if not d["running"] and d["state"] != "running":
            return d
        assert time.monotonic() < deadline, d
        time.sleep(1)


def _vcpus(api: ApiClient) -> int:
    site: dict[str, Any] = api.get("/capacity", site=SITE)["sites"][0]
    return int(site["vcpus"]["capacity"])


def test_drain_moves_the_hosts_servers_and_restore_enables_it(
        plane: Plane, servers: list[str]) -> None:
    admin = ApiClient(plane.url, plane.admin_token)
    conn = plane.real.sdk(SITE)
    admin.post("/tenants/apply", {})
    assert admin.post("/sync", {"full": True})["ok"]
    before = _vcpus(admin)
    started = admin.post(f"/hosts/{SITE}/{HOST}/drain", {})
    done = _drain_ended(admin, started["drain"])
    assert done["state"] == "done", [(s["name"], s["status"], s["reason"]) for s in done["servers"]]
    assert {s["id"] for s in done["servers"]} >= set(servers)
    kinds = {s["id"]: s["kind"] for s in done["servers"]}
    assert (kinds[servers[0]], kinds[servers[1]]) == ("live", "cold")
    # in Nova: every server moved to the other host with its power state; the service
    # disabled for this drain; nothing left on the host
    for sid, status in zip(servers, ("ACTIVE", "SHUTOFF"), strict=True):
        moved = _wait(conn, sid, status)
        assert moved.compute_host == OTHER, sid
    service = next(conn.compute.services(binary="nova-compute", host=HOST))
    assert (service.status, service.disabled_reason) == (
        "disabled", f"govcloud drain {done['id']}")
    assert not list(conn.compute.servers(all_projects=True, host=HOST))
    # in govcloud: the host is in maintenance and out of capacity until restored
    hosts = {h["host"]: h for h in admin.get("/hosts/compute", site=SITE)["hosts"]}
    assert hosts[HOST]["maintenance"]
    assert _vcpus(admin) < before
    restored = admin.post(f"/hosts/{SITE}/{HOST}/restore", {})
    assert restored["enabled"] and restored["was_in_maintenance"]
    service = next(conn.compute.services(binary="nova-compute", host=HOST))
    assert (service.status, service.disabled_reason) == ("enabled", None)
    assert admin.post("/sync", {"full": True})["ok"]
    assert _vcpus(admin) == before
