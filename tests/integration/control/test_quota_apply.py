"""Quotas govcloud applies take effect for approvals at once, and a request that fails in the
cloud leaves nothing behind (issue 17, item 1). Real HTTP throughout: the simulator driven by
openstacksdk, the control plane with its job worker, ``tenants apply`` through the API, SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from govcloud.client import ApiClient
from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .provisioning_plane import wait_final

NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
IMAGE = "cirros-0.6.2-x86_64-disk"


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 1, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    return plane


def cloud(plane: Plane, region: str) -> Any:
    site = next(s for s in default_sites() if s.name == region)
    assert plane.sim.clouds_yaml is not None
    return connect(site, clouds_yaml=plane.sim.clouds_yaml)


def request(department: str, system: str, *, count: int = 1,
            volumes: list[int] | None = None) -> dict[str, Any]:
    group: dict[str, Any] = {"name_prefix": "app", "flavor": "gc.c2m4", "image": IMAGE,
                             "count": count, "network": NETWORKS}
    if volumes:
        group["volumes"] = volumes
    return {"department": department, "system": system, "justification": "quota test",
            "servers": [group]}


def set_catalogue_quota(catalogue: Path, code: str, site: str, name: str, value: int) -> None:
    path = catalogue / f"{code}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["quotas"][site][name] = value
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")


def test_tenants_apply_lowering_a_quota_bounds_concurrent_approvals_at_once(
        synced: Plane) -> None:
    """The bureau lowers gd-agri's PROD cores through the catalogue and `tenants apply`; no
    sync runs after it. Twelve approvals arrive together: exactly as many as the new quota
    has room for are approved, the others get "insufficient capacity" naming the quota."""
    plane = synced
    conn = cloud(plane, "PROD")
    project = conn.identity.find_project("gd-agri")
    used = conn.compute.get(f"/os-quota-sets/{project.id}/detail").json()[
        "quota_set"]["cores"]["in_use"]
    conn.close()
    room = 6  # three 2-vCPU servers
    set_catalogue_quota(plane.catalogue, "gd-agri", "PROD", "cores", used + room)
    applied = plane.admin.post("/tenants/apply", department=["gd-agri"])
    assert any(c["action"] == "tenancy.quota.set" and c["after"].get("cores") == used + room
               for c in applied["changes"]), applied
    # the limit govcloud set is the stored one at once (no sync ran): the figure approvals
    # place against, besides the catalogue's own cap (each alone would pass what follows)
    with plane.engine.connect() as db:
        stored = db.execute(text('SELECT "limit" FROM quota_usage WHERE site = :site AND '
                                 "project_id = :project AND resource = 'cores'"),
                            {"site": "PROD", "project": project.id}).scalar_one()
    assert stored == used + room
    _, operator = plane.principal("operator")
    ids = [operator.post("/requests", request("gd-agri", f"agri{i}"))["id"] for i in range(12)]
    ok: list[int] = []
    refused: list[GovCloudError] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(ids))

    def approve(rid: int) -> None:
        api = ApiClient(plane.url, plane.admin_token)
        try:
            barrier.wait()
            api.post(f"/requests/{rid}/approve")
            with lock:
                ok.append(rid)
        except GovCloudError as exc:
            with lock:
                refused.append(exc)
        finally:
            api.close()

    threads = [threading.Thread(target=approve, args=(rid,)) for rid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(ok) == room // 2, (len(ok), [e.message for e in refused][:2])
    assert len(refused) == len(ids) - room // 2
    assert all(e.http_status == 409 and "PROD: gd-agri quota has" in e.message
               for e in refused), [e.message for e in refused][:2]
    # what was approved fits in the cloud: every approved request is provisioned
    for rid in ok:
        assert wait_final(plane.admin, rid)["state"] == "done"
    assert svc.ledger_check(plane.engine)["matches"]


def project_state(plane: Plane, code: str) -> dict[str, dict[str, set[str]]]:
    """Per region: the ids of the department project's servers, ports, volumes and server
    groups, read from the simulator (admin view)."""
    out: dict[str, dict[str, set[str]]] = {}
    for region in ("PROD", "DR-REMOTE"):
        conn = cloud(plane, region)
        project = conn.identity.find_project(code)
        groups = conn.compute.get("/os-server-groups", params={"all_projects": "True"},
                                  microversion="2.64").json()
        out[region] = {
            "servers": {s.id for s in conn.compute.servers(all_projects=True,
                                                           project_id=project.id)},
            "ports": {p.id for p in conn.network.ports(project_id=project.id)},
            "volumes": {v.id for v in conn.block_storage.volumes(all_projects=True,
                                                                 project_id=project.id)},
            "groups": {g["id"] for g in groups["server_groups"]
                       if g.get("project_id") == project.id},
        }
        conn.close()
    return out


def test_a_request_failing_in_the_cloud_releases_everything_it_created(
        synced: Plane) -> None:
    """gd-edu's cores are cut by hand in PROD (outside govcloud) to room for one server; a
    request for two servers with a data volume each is approved against the stored snapshot,
    the cloud creates one server (port, volume, server group) and refuses the other. The
    request fails, and its servers, ports, volumes and server groups are gone from every
    site."""
    plane = synced
    before = project_state(plane, "gd-edu")
    conn = cloud(plane, "PROD")
    project = conn.identity.find_project("gd-edu")
    old = conn.compute.get_quota_set(project.id)
    used = conn.compute.get(f"/os-quota-sets/{project.id}/detail").json()[
        "quota_set"]["cores"]["in_use"]
    conn.compute.update_quota_set(project.id, cores=used + 2)
    try:
        _, operator = plane.principal("operator")
        rid = operator.post("/requests", request("gd-edu", "half", count=2, volumes=[1]))["id"]
        plane.admin.post(f"/requests/{rid}/approve")
        failed = wait_final(plane.admin, rid)
    finally:
        conn.compute.update_quota_set(project.id, cores=old.cores)
        conn.close()
    assert failed["state"] == "failed", failed
    assert "Quota exceeded for cores" in failed["error"], failed["error"]
    shown = plane.admin.get(f"/requests/{rid}")
    created = [s for s in shown["servers"] if s["server_id"]]
    assert created, "the cloud created one server before refusing the other"
    after = project_state(plane, "gd-edu")
    assert after == before, {r: {k: after[r][k] ^ before[r][k] for k in after[r]}
                             for r in after}
    groups = [e["message"] for e in shown["events"] if e["kind"] == "cleanup"]
    assert any("server group" in m for m in groups), groups
    assert svc.ledger_check(plane.engine)["matches"]



def test_a_request_over_the_server_group_members_quota_exits_6_naming_it(
        synced: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The catalogue manages every quota placement checks: gd-data's server_group_members is
    cut to 2 in PROD through the catalogue and `tenants apply`; approving a system of three
    servers exits 6 (insufficient capacity, docs/provisioning.md), naming the quota and the
    catalogue field that raises it."""
    from govcloud.cli import main

    plane = synced
    set_catalogue_quota(plane.catalogue, "gd-data", "PROD", "server_group_members", 2)
    applied = plane.admin.post("/tenants/apply", department=["gd-data"])
    assert any(c["site"] == "PROD" and c["after"].get("server_group_members") == 2
               for c in applied["changes"]), applied
    conn = cloud(plane, "PROD")
    project = conn.identity.find_project("gd-data")
    assert conn.compute.get_quota_set(project.id).server_group_members == 2
    conn.close()
    _, operator = plane.principal("operator")
    rid = operator.post("/requests", request("gd-data", "trio", count=3))["id"]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    capsys.readouterr()
    assert main(["request", "approve", str(rid)]) == 6
    err = capsys.readouterr().err
    assert "error: insufficient capacity: PROD: gd-data quota server_group_members allows 2 " \
        "servers in one server group, the request puts 3" in err, err
    assert "hint: raise quotas.PROD.server_group_members in tenants/gd-data.yaml and run " \
        "`govcloud tenants apply`" in err, err
    assert plane.admin.get(f"/requests/{rid}")["state"] == "submitted"
