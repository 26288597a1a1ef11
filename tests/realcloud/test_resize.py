"""Resizing a system against the real cloud (docs/lifecycle.md, "Resize"): a DR-level-5 system
of gd-data (its primary in PROD, its standby in DR-LOCAL, its cold copy shelved in DR-REMOTE)
is resized by a lifecycle request — submitted by an operator, approved by a bureau-admin, run
by the worker — one server at a time, each a real Nova resize to another host (Placement
holds both hosts' allocations until it is confirmed) that govcloud confirms; the cold copy is
unshelved, resized, confirmed and shelved again. Afterwards every copy is of the new flavor in
Nova, the same servers (not replaced), Nova's own action log shows resize then confirm for each,
and the request holds no reservation, the ledger matching. A resize the real scheduler cannot
place (every PROD compute service disabled after approval) fails with Nova's outcome and
changes nothing: Nova put the server back on its flavor and host itself. A resize whose
confirmation Nova refuses (the source host's compute service forced down while the server waits
in VERIFY_RESIZE: `Service is unavailable at this time.`) is reverted by govcloud — Nova's
revertResize puts it back on its old flavor and host — and the request fails saying so.
The simulator's version is tests/integration/control/test_lifecycle_resize.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from govcloud.client import ApiClient
from govcloud.services import provisioning as svc
from tests.integration.control.provisioning_plane import held

from .conftest import SITES, Plane, RealCloud, delete_system, request, wait_final

DEPARTMENT = "gd-data"  # DR level 5: primary, standby, cold copy
OLD, NEW = "m1.small", "m1.medium"
SOAK_S = 3.0  # a resized server's wait in VERIFY_RESIZE before govcloud confirms it


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"resize_soak_s": SOAK_S}


@pytest.fixture(scope="module")
def ready(plane: Plane) -> tuple[Plane, ApiClient, ApiClient]:
    admin = ApiClient(plane.url, plane.admin_token)
    admin.post("/tenants/apply", {})
    assert admin.post("/sync", {"full": True})["ok"]
    operator = ApiClient(plane.url, plane.principal("ops-resize", "operator"))
    return plane, admin, operator


def _servers(real: RealCloud, system: str) -> dict[str, list[Any]]:
    return {site: sorted(real.sdk(site).compute.servers(all_projects=True, name=f"^{system}-"),
                         key=lambda s: s.name) for site in SITES}


def _flavors(real: RealCloud, system: str) -> dict[str, set[tuple[str, str]]]:
    return {site: {(s.name, s.flavor.original_name) for s in found}
                   for site, found in _servers(real, system).items()}


@contextmanager
def provisioned(ready: tuple[Plane, ApiClient, ApiClient], system: str) -> Iterator[str]:
    """``system`` of DEPARTMENT, one m1.small server per site, deleted again at the end."""
    plane, admin, operator = ready
    delete_system(plane.real, DEPARTMENT, system)
    try:
        rid = operator.post("/requests", request(system, count=1, department=DEPARTMENT))["id"]
        admin.post(f"/requests/{rid}/approve")
        done = wait_final(admin, rid)
        assert done["state"] == "done", (done["error"], done["events"][-6:])
        yield system
    finally:
        delete_system(plane.real, DEPARTMENT, system)


def _resize(admin: ApiClient, operator: ApiClient, system: str) -> dict[str, Any]:
    asked: dict[str, Any] = operator.post(f"/systems/{DEPARTMENT}/{system}/resize",
                                          {"flavor": NEW})
    admin.post(f"/requests/{asked['id']}/approve")
    return asked


def test_resize_confirms_each_copy_one_at_a_time(
        ready: tuple[Plane, ApiClient, ApiClient]) -> None:
    with provisioned(ready, "grow") as system:
        _resize_and_check(ready, system)


def _resize_and_check(ready: tuple[Plane, ApiClient, ApiClient], system: str) -> None:
    plane, admin, operator = ready
    before = _servers(plane.real, system)
    assert {site: [(s.status, s.flavor.original_name) for s in v]
            for site, v in before.items()} == {
        "PROD": [("ACTIVE", OLD)], "DR-LOCAL": [("ACTIVE", OLD)],
        "DR-REMOTE": [("SHELVED_OFFLOADED", OLD)]}
    asked = _resize(admin, operator, system)
    assert [(s["site"], s["name"]) for s in asked["plan"]["steps"]] == [
        (site, f"{system}-app-1") for site in SITES]
    done = wait_final(admin, asked["id"])
    assert done["state"] == "done", (done["error"], done["events"][-8:])
    after = _servers(plane.real, system)
    # the same servers, of the new flavor, each as it was (the cold copy shelved again)
    assert {site: [(s.id, s.status, s.flavor.original_name) for s in v]
            for site, v in after.items()} == {
        site: [(s.id, s.status, NEW) for s in v] for site, v in before.items()}
    for site, (server,) in after.items():
        conn = plane.real.sdk(site)
        actions = [a.action for a in conn.compute.server_actions(server.id)]
        # Nova's own log, newest first: resized and confirmed (a cold copy around it
        # unshelved and shelved again)
        resized = [a for a in actions if a in ("resize", "confirmResize")]
        assert resized == ["confirmResize", "resize"], (site, actions)
        migrations = conn.compute.get("/os-migrations", params={
            "instance_uuid": server.id, "migration_type": "resize"},
            microversion="2.80").json()["migrations"]
        assert [m["status"] for m in migrations] == ["confirmed"], (site, migrations)
        running = before[site][0].compute_host
        if running:  # a running copy moved host (the real scheduler: never the same host)
            assert server.compute_host not in (None, running), site
    shown = admin.get(f"/systems/{DEPARTMENT}/{system}")
    assert {m["flavor"] for m in shown["members"]} == {NEW}  # the inventory knows
    assert held(plane.engine, asked["id"]) == 0
    assert svc.ledger_check(plane.engine)["matches"]


def _set_services(conn: Any, ids: list[str], status: str) -> None:
    for sid in ids:
        answer = conn.compute.put(f"/os-services/{sid}", json={"status": status},
                                  microversion="2.53")
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def unchanged(ready: tuple[Plane, ApiClient, ApiClient]) -> Iterator[str]:
    """A system the failing resizes leave as it was (so they share it: one provisioning)."""
    with provisioned(ready, "stuck") as system:
        yield system


def test_a_resize_the_scheduler_cannot_place_fails_and_changes_nothing(
        ready: tuple[Plane, ApiClient, ApiClient], unchanged: str) -> None:
    """Approval (from the inventory) lets it through; every PROD compute service is disabled
    before the worker runs, so the real scheduler finds no valid host and Nova rolls the
    server back itself: govcloud fails the request with the migration's outcome."""
    plane, admin, operator = ready
    system = unchanged
    conn = plane.real.sdk("PROD")
    before = _servers(plane.real, system)
    enabled = [s.id for s in conn.compute.services(binary="nova-compute")
               if s.status == "enabled"]
    asked = operator.post(f"/systems/{DEPARTMENT}/{system}/resize", {"flavor": NEW})
    _set_services(conn, enabled, "disabled")
    try:
        admin.post(f"/requests/{asked['id']}/approve")
        failed = wait_final(admin, asked["id"])
    finally:
        _set_services(conn, enabled, "enabled")
        assert admin.post("/sync", {"full": True})["ok"]
    assert failed["state"] == "failed", failed
    assert f"PROD: resizing {system}-app-1 to {NEW}" in failed["error"], failed["error"]
    assert "Nova did not resize it" in failed["error"], failed["error"]
    after = _servers(plane.real, system)
    assert {site: [(s.id, s.status, s.flavor.original_name, s.compute_host) for s in v]
            for site, v in after.items()} == {
        site: [(s.id, s.status, s.flavor.original_name, s.compute_host) for s in v]
        for site, v in before.items()}
    statuses = {s["site"]: s["status"] for s in admin.get(
        f"/requests/{asked['id']}")["servers"]}
    assert statuses == {"PROD": "failed"}  # the copies were never touched
    assert held(plane.engine, asked["id"]) == 0
    assert svc.ledger_check(plane.engine)["matches"]


def _force_down(conn: Any, host: str, down: bool) -> None:
    service = next(conn.compute.services(binary="nova-compute", host=host))
    answer = conn.compute.put(f"/os-services/{service.id}", json={"forced_down": down},
                              microversion="2.53")
    assert answer.status_code == 200, answer.text


def test_a_resize_whose_confirmation_fails_is_reverted(
        ready: tuple[Plane, ApiClient, ApiClient], unchanged: str) -> None:
    plane, admin, operator = ready
    system = unchanged
    conn = plane.real.sdk("PROD")
    (member,) = _servers(plane.real, system)["PROD"]
    source = member.compute_host
    earlier = len(list(conn.compute.server_actions(member.id)))
    asked = operator.post(f"/systems/{DEPARTMENT}/{system}/resize",
                          {"flavor": NEW, "members": [f"{system}-app-1"]})
    admin.post(f"/requests/{asked['id']}/approve")
    deadline = time.monotonic() + 120
    while conn.compute.get_server(member.id).status != "VERIFY_RESIZE":
        assert time.monotonic() < deadline, "never reached VERIFY_RESIZE"
        time.sleep(0.2)
    # the source compute is down while the resize waits: Nova refuses to confirm
    _force_down(conn, source, True)
    try:
        failed = wait_final(admin, asked["id"])
    finally:
        _force_down(conn, source, False)
    assert failed["state"] == "failed", failed
    assert "confirming the resize failed" in failed["error"], failed["error"]
    assert "Service is unavailable" in failed["error"], failed["error"]
    assert f"reverted to {OLD}" in failed["error"], failed["error"]
    back = conn.compute.get_server(member.id)
    assert (back.status, back.flavor.original_name, back.compute_host) == (
        "ACTIVE", OLD, source)
    # newest first; Nova records no confirmResize it refused
    actions = [a.action for a in conn.compute.server_actions(member.id)]
    assert actions[:len(actions) - earlier] == ["revertResize", "resize"], \
        actions
    statuses = {s["site"]: s["status"] for s in admin.get(
        f"/requests/{asked['id']}")["servers"]}
    assert statuses == {"PROD": "failed"}  # the copies were never touched
    assert held(plane.engine, asked["id"]) == 0
    assert svc.ledger_check(plane.engine)["matches"]
