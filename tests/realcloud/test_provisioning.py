"""Provisioning against the real cloud: a DR-level-5 system of gd-data is submitted by an
operator, approved by a bureau-admin, and the worker creates the primary in PROD, the standby
in DR-LOCAL and the cold copy in DR-REMOTE — in the department's project, two servers per site
on distinct hosts (a real anti-affinity server group, the real scheduler), the cold copy's then
shelved and offloaded. A quota the cloud
enforces (set by hand, lower than govcloud's snapshot thinks) fails the request with Nova's own
message and leaves no server behind."""

from __future__ import annotations

from typing import Any

import pytest

from govcloud.client import ApiClient

from .conftest import SITES, Plane, RealCloud, delete_system, request, wait_final


@pytest.fixture(scope="module")
def ready(plane: Plane) -> tuple[Plane, ApiClient, ApiClient]:
    admin = ApiClient(plane.url, plane.admin_token)
    admin.post("/tenants/apply", {})
    report = admin.post("/sync", {"full": True})
    assert report["ok"], report
    operator = ApiClient(plane.url, plane.principal("ops-real", "operator"))
    return plane, admin, operator


def tagged(real: RealCloud, rid: int) -> dict[str, list[Any]]:
    return {site: [s for s in real.sdk(site).compute.servers(all_projects=True)
                   if any(t.startswith(f"govcloud-req-{rid}-") for t in (s.tags or []))]
            for site in SITES}


def test_dr5_system_gets_primary_standby_and_cold_copy_with_anti_affinity(
        ready: tuple[Plane, ApiClient, ApiClient]) -> None:
    plane, admin, operator = ready
    delete_system(plane.real, "gd-data", "ledger")
    rid = operator.post("/requests", request("ledger"))["id"]
    approved = admin.post(f"/requests/{rid}/approve")
    assert [s["site"] for s in approved["placement"]["sites"]] == list(SITES)
    done = wait_final(admin, rid)
    assert done["state"] == "done", (done["error"], done["events"][-6:])
    project = plane.real.sdk("PROD").identity.find_project("gd-data")
    for site, found in tagged(plane.real, rid).items():
        assert len(found) == 2, site
        assert {s.project_id for s in found} == {project.id}
        if site == "DR-REMOTE":  # the cold copy: shelved and offloaded, on no host (issue 19)
            assert [(s.status, s.compute_host) for s in found] == [
                ("SHELVED_OFFLOADED", None)] * 2
        else:
            assert {s.status for s in found} == {"ACTIVE"}
            hosts = {s.compute_host for s in found}
            assert hosts == {c.host for c in plane.real.region(site).computes}, site
        groups = [g for g in plane.real.sdk(site).compute.server_groups(all_projects=True)
                  if set(g.member_ids or ()) == {s.id for s in found}]
        assert len(groups) == 1 and groups[0].policy == "anti-affinity", site
    listed = admin.get("/servers", department="gd-data", limit=1000)["servers"]
    assert {(s["site"], s["name"]) for s in listed} >= {
        (site, f"ledger-app-{n}") for site in SITES for n in (1, 2)}


def test_a_quota_the_cloud_enforces_fails_cleanly(
        ready: tuple[Plane, ApiClient, ApiClient]) -> None:
    plane, admin, operator = ready
    conn = plane.real.sdk("PROD")
    project = conn.identity.find_project("gd-data")
    detail = conn.compute.get(f"/os-quota-sets/{project.id}/detail").json()["quota_set"]
    plane.real.osc("PROD", "quota", "set", "--cores", str(detail["cores"]["in_use"]),
                   project.id)
    delete_system(plane.real, "gd-data", "quota")
    try:
        rid = operator.post("/requests", request("quota", count=1))["id"]
        admin.post(f"/requests/{rid}/approve")
        failed = wait_final(admin, rid)
    finally:
        plane.real.osc("PROD", "quota", "set", "--cores", str(detail["cores"]["limit"]),
                       project.id)
    assert failed["state"] == "failed"
    assert "Quota exceeded for cores" in failed["error"], failed["error"]
    assert all(not found for found in tagged(plane.real, rid).values()), "servers leaked"
