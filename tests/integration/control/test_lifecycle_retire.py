"""Retiring a system end to end over real HTTP (docs/lifecycle.md): a DR-5 system's servers are
shut off for the grace period (the worker leaves the request alone until then: the server's
clock is moved forward, never slept on), then a final snapshot of each primary member is taken
and kept, every server is deleted in every site with its server groups and its protection
records, the quota and capacity it held are free at once, its requests are retired and its
name may be used again; when the snapshots' time is up they are deleted and the request is
done. SQLite and PostgreSQL, the simulator driven by unmodified openstacksdk."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from govcloud.domain.recovery import PointKind, PointRecord
from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table
from govcloud.store.protection_repo import add_recovery_point
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .lifecycle_plane import provision, servers, submit, wait_phase
from .provisioning_plane import NETWORKS, ProvPlane, request, wait_final

DEPARTMENT = "gd-data"  # DR level 5


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def prov(plane: Plane) -> Iterator[ProvPlane]:
    token = plane.add_principal("ops-retire", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    yield ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                    plane.client(token), plane.sim.clouds_yaml, token)
    plane.clock.offset = timedelta(0)


def _cores_in_use(prov: ProvPlane) -> dict[str, int]:
    """The department's Nova cores in use per region, as the cloud counts them."""
    out = {}
    for region in NETWORKS:
        conn = prov.cloud(region)
        try:
            project = conn.identity.find_project(DEPARTMENT)
            detail = conn.compute.get(f"/os-quota-sets/{project.id}/detail").json()
            out[region] = int(detail["quota_set"]["cores"]["in_use"])
        finally:
            conn.close()
    return out


def _images(prov: ProvPlane, rid: int) -> list[Any]:
    conn = prov.cloud("PROD")
    try:
        return [i for i in conn.image.images()
                if (i.name or "").startswith(f"govcloud-retire-{rid}-")]
    finally:
        conn.close()


def _points(prov: ProvPlane, system: str) -> int:
    pts = table("recovery_point")
    with prov.engine.connect() as conn:
        return len(conn.execute(select(pts.c.id).where(pts.c.system == system)).all())


def test_retire_with_grace_then_snapshots_kept_then_deleted(prov: ProvPlane,
                                                            plane: Plane) -> None:
    provision(prov, "old", department=DEPARTMENT, count=2)
    before = _cores_in_use(prov)
    standby = servers(prov, "old")["DR-LOCAL"][0]
    with write_begin(prov.engine) as conn:  # a recovery point the protection took
        add_recovery_point(conn, PointRecord(
            DEPARTMENT, "old", "DR-LOCAL", standby.id, plane.clock(), PointKind.FILE_SYNC, 10,
            "sha256:" + "0" * 64))
    asked = submit(prov.operator, DEPARTMENT, "old", "retire",
                   {"grace_days": 2, "keep_days": 3, "justification": "replaced by new"})
    with pytest.raises(GovCloudError, match="may not request.approve"):
        prov.operator.post(f"/requests/{asked['id']}/approve")
    prov.admin.post(f"/requests/{asked['id']}/approve")
    grace = wait_phase(prov.admin, asked["id"], "grace")
    assert grace["state"] == "provisioning" and grace["not_before"], grace
    found = servers(prov, "old")
    assert {r: {s.status for s in v} for r, v in found.items()} == {
        "PROD": {"SHUTOFF"}, "DR-LOCAL": {"SHUTOFF"}, "DR-REMOTE": {"SHELVED_OFFLOADED"}}
    assert all(len(v) == 2 for v in found.values())

    plane.clock.offset += timedelta(days=2, minutes=1)  # the grace period is over
    kept = wait_phase(prov.admin, asked["id"], "keeping-snapshots")
    assert kept["state"] == "provisioning", kept
    assert all(not v for v in servers(prov, "old").values()), "servers left behind"
    images = _images(prov, asked["id"])
    assert sorted(i.name for i in images) == [
        f"govcloud-retire-{asked['id']}-old-app-1", f"govcloud-retire-{asked['id']}-old-app-2"]
    assert {i.status for i in images} == {"active"}
    after = _cores_in_use(prov)
    assert after == {r: before[r] - 2 * 2 for r in before}, (before, after)
    listed = prov.admin.get("/servers", department=DEPARTMENT, limit=1000)["servers"]
    assert not [s for s in listed if s["name"].startswith("old-")]
    assert _points(prov, "old") == 0, "the system's recovery points outlived it"
    origin = [r for r in prov.admin.get("/requests", department=DEPARTMENT)["requests"]
              if r["system"] == "old" and r["kind"] == "provision"][0]
    assert origin["state"] == "retired"
    with pytest.raises(GovCloudError, match="no system 'old'"):
        prov.admin.get(f"/systems/{DEPARTMENT}/old")
    again = prov.operator.post("/requests", request("old", department=DEPARTMENT))
    assert again["state"] == "submitted"  # the name is free again
    prov.operator.post(f"/requests/{again['id']}/cancel", {"reason": "test"})

    plane.clock.offset += timedelta(days=3, minutes=1)  # the snapshots' time is up
    done = wait_final(prov.admin, asked["id"])
    assert done["state"] == "done", done
    assert _images(prov, asked["id"]) == []
    kinds = [e["kind"] for e in prov.admin.get(f"/requests/{asked['id']}")["events"]]
    assert kinds.count("snapshot") >= 4 and "retired" in kinds and kinds[-1] == "done"
    phases = [e["after"].get("phase") for e in
              prov.admin.get("/audit", action="request.phase")["entries"]
              if e["after"]["request"] == asked["id"]]
    assert set(phases) >= {"grace", "deleting", "keeping-snapshots"}
    assert svc.ledger_check(prov.engine)["matches"]


def test_a_ci_account_may_not_retire_and_bad_days_are_refused(prov: ProvPlane,
                                                             plane: Plane) -> None:
    provision(prov, "keep", department=DEPARTMENT, count=1)
    _, ci = plane.principal("ci")
    with pytest.raises(GovCloudError, match="may not system.retire") as err:
        submit(ci, DEPARTMENT, "keep", "retire", {"grace_days": 1})
    assert err.value.http_status == 403
    for body in ({"grace_days": -1}, {"grace_days": 400}, {"keep_days": 1e9}):
        with pytest.raises(GovCloudError) as err:
            submit(prov.operator, DEPARTMENT, "keep", "retire", body)
        assert err.value.http_status == 422, body
    assert not [r for r in prov.admin.get("/requests", department=DEPARTMENT)["requests"]
                if r["system"] == "keep" and r["kind"] == "retire"]
