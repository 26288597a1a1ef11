"""``GET /servers?changed_since=``: after a full listing, a client asks only for what changed
(real server thread, small simulator, SQLite and PostgreSQL). A server added, one renamed
(stopped) and one deleted in the cloud are each seen exactly once, after the sync that read
them; an unchanged full sync changes nothing; an unknown, foreign or purged-past cursor is
answered with a full listing and ``full: true``; a narrower principal's cursor is its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import openstack.config
import openstack.connection
import pytest

from govcloud.client import ApiClient
from govcloud.sim.clouds import ADMIN_CLOUD

from .conftest import Plane

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    plane.admin.post("/tenants/apply")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    return plane


@pytest.fixture
def prod(synced: Plane) -> Iterator[openstack.connection.Connection]:
    config = openstack.config.OpenStackConfig(config_files=[str(synced.sim.clouds_yaml)])
    conn = openstack.connection.Connection(
        config=config.get_one(cloud=ADMIN_CLOUD, region_name="PROD"))
    yield conn
    conn.close()


def listing(api: ApiClient, **query: Any) -> dict[str, Any]:
    """Every page of one listing: the servers and deleted ids of all pages, and the first
    page's cursor and flag (every page must agree on both)."""
    out: dict[str, Any] = {"servers": [], "deleted": []}
    cursor = None
    while True:
        page = api.get("/servers", limit=29, cursor=cursor, **query)
        out["servers"] += page["servers"]
        out["deleted"] += page["deleted"]
        out.setdefault("changes_cursor", page["changes_cursor"])
        out.setdefault("full", page["full"])
        assert (page["changes_cursor"], page["full"]) == (out["changes_cursor"], out["full"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def keys(servers: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(s["site"], s["id"]) for s in servers}


def test_changes_since_a_full_listing_are_each_seen_once(
        synced: Plane, prod: openstack.connection.Connection) -> None:
    api = synced.admin
    first = listing(api)
    assert first["full"] and first["deleted"] == []
    assert len(first["servers"]) == sum(len(r.servers)
                                        for r in synced.sim.sim.cloud.regions.values())
    again = listing(api, changed_since=first["changes_cursor"])
    assert not again["full"] and again["servers"] == [] and again["deleted"] == []

    # an unchanged full sync writes no row: still nothing to see
    assert synced.admin.post("/sync", {"full": True})["ok"]
    quiet = listing(api, changed_since=first["changes_cursor"])
    assert (quiet["servers"], quiet["deleted"], quiet["full"]) == ([], [], False)

    region = synced.sim.sim.cloud.regions["PROD"]
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c2m4")
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    made = prod.compute.create_server(name="changes-new", flavor_id=flavor.id,
                                      image_id=image.id, networks="none")
    prod.compute.wait_for_server(made, status="ACTIVE", wait=30)
    live = sorted((s for s in first["servers"] if s["site"] == "PROD"
                   and s["status"] == "ACTIVE"), key=lambda s: s["id"])
    stopped, victim = live[0], live[1]
    prod.compute.stop_server(stopped["id"])
    prod.compute.wait_for_server(prod.compute.get_server(stopped["id"]), status="SHUTOFF",
                                 wait=30)
    prod.compute.delete_server(victim["id"])
    assert prod.compute.find_server(victim["id"]) is None or prod.compute.wait_for_delete(
        prod.compute.get_server(victim["id"]), wait=30)
    assert synced.admin.post("/sync", {"sites": ["PROD"]})["ok"]

    changed = listing(api, changed_since=quiet["changes_cursor"])
    assert not changed["full"]
    assert keys(changed["servers"]) == {("PROD", made.id), ("PROD", stopped["id"])}
    assert {s["id"]: s["status"] for s in changed["servers"]}[stopped["id"]] == "SHUTOFF"
    assert changed["deleted"] == [{"site": "PROD", "id": victim["id"]}]
    # seen once: the next listing from the new cursor is empty, the old one still has them
    after = listing(api, changed_since=changed["changes_cursor"])
    assert (after["servers"], after["deleted"]) == ([], [])
    assert keys(listing(api, changed_since=quiet["changes_cursor"])["servers"]) \
        == keys(changed["servers"])
    # a site's own listing has its own cursor, and sees only its site's changes
    dr = listing(api, site="DR-LOCAL", changed_since=quiet["changes_cursor"])
    assert dr["full"]  # the whole cloud's cursor is not the site's
    dr_again = listing(api, site="DR-LOCAL", changed_since=dr["changes_cursor"])
    assert not dr_again["full"] and dr_again["servers"] == [] and dr_again["deleted"] == []


@pytest.mark.parametrize("cursor", ["nonsense", "0123456789abcdef.1.0123456789ab", "."])
def test_an_unknown_cursor_falls_back_to_a_full_listing(synced: Plane, cursor: str) -> None:
    answer = listing(synced.admin, changed_since=cursor)
    assert answer["full"]
    assert len(answer["servers"]) == sum(len(r.servers)
                                         for r in synced.sim.sim.cloud.regions.values())


def test_a_cursor_ahead_of_the_counter_or_of_another_scope_is_stale(synced: Plane) -> None:
    cursor = listing(synced.admin)["changes_cursor"]
    epoch, seq, scope = cursor.split(".")
    assert listing(synced.admin, changed_since=f"{epoch}.{int(seq) + 5}.{scope}")["full"]
    _, viewer = synced.principal("department-viewer", department="gd-tax")
    mine = listing(viewer, changed_since=cursor)  # the admin's cursor, another scope
    assert mine["full"] and {s["department"] for s in mine["servers"]} == {"gd-tax"}
    assert not listing(viewer, changed_since=mine["changes_cursor"])["full"]


def test_status_with_changed_since_is_refused(synced: Plane) -> None:
    cursor = listing(synced.admin)["changes_cursor"]
    with pytest.raises(Exception, match="changed_since cannot be combined with status"):
        synced.admin.get("/servers", status="ACTIVE", changed_since=cursor)
