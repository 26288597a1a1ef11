"""Cold copies hold no compute capacity (issue 19), end to end over real HTTP against the
simulator, on SQLite and PostgreSQL: a request with a cold copy ends with the cold servers
``SHELVED_OFFLOADED`` (on no host, their Placement allocations freed), recorded so, the
reservation released and the ledger matching, and the lose-a-site what-if counting them as
capacity needed on recovery rather than as a running standby; the one-shot
``shelve_cold_copies`` shelves cold copies that run and does nothing the second time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.services import provisioning as svc
from govcloud.services.catalogue import load_catalogue
from govcloud.services.cold_copies import shelve_cold_copies
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .provisioning_plane import ProvPlane, held, request, tagged, wait_final

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
DEPARTMENT = "gd-agri"  # DR level 3: primary in PROD, a cold copy in DR-REMOTE


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def prov(plane: Plane) -> ProvPlane:
    token = plane.add_principal("ops-cold", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    return ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                     plane.client(token), plane.sim.clouds_yaml, token)


def usage(prov: ProvPlane, site: str) -> dict[str, int]:
    """The department's Placement usage in ``site`` (what its servers hold on hosts)."""
    conn = prov.cloud(site)
    try:
        project = conn.identity.find_project(DEPARTMENT)
        got: dict[str, int] = conn.placement.get(
            "/usages", params={"project_id": project.id},
            microversion="1.9").json()["usages"]
        return got
    finally:
        conn.close()


def recovery_move(prov: ProvPlane) -> dict[str, Any]:
    """What moves to DR-REMOTE for the department when PROD is lost (zero: nothing)."""
    what_if = prov.admin.get("/capacity", what_if_lose="PROD")["what_if"]
    zero = {"vcpu": 0}
    return next((m for m in what_if["moves"] if m["department"] == DEPARTMENT),
                {"target": "DR-REMOTE", "load": zero, "standby": zero, "need": zero})


def provision(prov: ProvPlane, system: str) -> int:
    rid: int = prov.operator.post("/requests", request(system, department=DEPARTMENT))["id"]
    approved = prov.admin.post(f"/requests/{rid}/approve")
    assert [(s["site"], s["kind"]) for s in approved["placement"]["sites"]] == [
        ("PROD", "primary"), ("DR-REMOTE", "cold")]
    done = wait_final(prov.admin, rid)
    assert done["state"] == "done", done
    return rid


def test_a_cold_copy_ends_shelved_offloaded_holding_no_capacity(prov: ProvPlane) -> None:
    before_usage = usage(prov, "DR-REMOTE")
    before = recovery_move(prov)
    assert before["target"] == "DR-REMOTE"
    rid = provision(prov, "coldsys")
    shown = prov.admin.get(f"/requests/{rid}")
    assert sorted((s["site"], s["status"]) for s in shown["servers"]) == [
        ("DR-REMOTE", "shelved_offloaded")] * 2 + [("PROD", "active")] * 2
    assert sum(e["kind"] == "shelved" for e in shown["events"]) == 2
    # in the cloud: offloaded, on no host, its allocations freed
    servers = tagged(prov, rid)
    assert [(s.status, s.compute_host) for s in servers["DR-REMOTE"]] == [
        ("SHELVED_OFFLOADED", None)] * 2
    assert {s.status for s in servers["PROD"]} == {"ACTIVE"}
    assert usage(prov, "DR-REMOTE") == before_usage
    # the reservation made at approval is released, the ledger matches it
    assert held(prov.engine, rid) == 0
    assert svc.ledger_check(prov.engine)["matches"]
    # the inventory has them offloaded at once
    listed = prov.admin.get("/servers", department=DEPARTMENT, site="DR-REMOTE", limit=1000)
    statuses = {s["name"]: s["status"] for s in listed["servers"]}
    assert statuses["coldsys-app-1"] == statuses["coldsys-app-2"] == "SHELVED_OFFLOADED"
    # the what-if: losing PROD, the copy needs its capacity in DR-REMOTE (2 × gc.c2m4)
    after = recovery_move(prov)
    assert after["target"] == "DR-REMOTE"
    assert after["standby"]["vcpu"] == before["standby"]["vcpu"], \
        "a shelved copy is no running standby"
    assert after["load"]["vcpu"] - before["load"]["vcpu"] == 4
    assert after["need"]["vcpu"] - before["need"]["vcpu"] == 4


def _unshelve(prov: ProvPlane, rid: int) -> None:
    """Make the request's cold copy run, as copies provisioned before issue 19 do."""
    conn = prov.cloud("DR-REMOTE")
    try:
        ids = [s.id for s in tagged(prov, rid)["DR-REMOTE"]]
        for sid in ids:
            conn.compute.unshelve_server(sid)
        deadline = time.monotonic() + 30
        while {conn.compute.get_server(sid).status for sid in ids} != {"ACTIVE"}:
            assert time.monotonic() < deadline, "the cold copy did not come back"
            time.sleep(0.2)
    finally:
        conn.close()


def test_the_one_shot_shelves_running_cold_copies_once(prov: ProvPlane) -> None:
    rid = provision(prov, "oldcold")
    before_usage = usage(prov, "DR-REMOTE")
    _unshelve(prov, rid)
    assert usage(prov, "DR-REMOTE")["VCPU"] == before_usage.get("VCPU", 0) + 4
    assert prov.admin.post("/sync", {"full": True})["ok"]
    catalogue = load_catalogue(TENANTS, sites=[s.name for s in default_sites()])
    ctx = svc.ProvisioningContext(engine=prov.engine, sites=default_sites(),
                                  catalogue=lambda: catalogue)
    conns = {s.name: connect(s, clouds_yaml=prov.clouds_yaml) for s in default_sites()}
    synced: list[list[str]] = []
    try:
        first = shelve_cold_copies(ctx, conns, timeout_s=30, interval_s=0.1,
                                   refresh=lambda sites: synced.append(list(sites)))
        second = shelve_cold_copies(ctx, conns, timeout_s=30, interval_s=0.1)
    finally:
        for conn in conns.values():
            conn.close()
    names = {f"DR-REMOTE/oldcold-app-{n}" for n in (1, 2)}
    assert {label.split(" ")[0] for label in first.shelved} == names
    assert not first.failed and not first.missing
    assert synced == [["DR-REMOTE"]]
    assert second.shelved == [] and not second.failed
    assert names <= {label.split(" ")[0] for label in second.already}
    assert [(s.status, s.compute_host) for s in tagged(prov, rid)["DR-REMOTE"]] == [
        ("SHELVED_OFFLOADED", None)] * 2
    assert usage(prov, "DR-REMOTE") == before_usage
    shown = prov.admin.get(f"/requests/{rid}")
    assert sorted(s["status"] for s in shown["servers"] if s["site"] == "DR-REMOTE") == [
        "shelved_offloaded"] * 2
    # a full sync sees them offloaded, on no host
    assert prov.admin.post("/sync", {"full": True})["ok"]
    listed = prov.admin.get("/servers", department=DEPARTMENT, site="DR-REMOTE", limit=1000)
    assert {s["status"] for s in listed["servers"] if s["name"].startswith("oldcold-")} == {
        "SHELVED_OFFLOADED"}
