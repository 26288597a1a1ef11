"""Resizing a system end to end over real HTTP (docs/lifecycle.md): real Nova resizes in the
simulator (Placement allocations held by the migration until confirmed), one server at a
time so the system stays up — polled all along: never are all of a site's members out of
ACTIVE at once — DR copies too (the cold copy unshelved, resized, confirmed and shelved
again); a resize whose confirmation fails is reverted, one Nova cannot do (no valid host)
fails cleanly; the ledger always matches. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from govcloud.domain.recovery import (
    Artifact,
    ArtifactKind,
    PointKind,
    PointRecord,
    manifest_digest,
)
from govcloud.errors import GovCloudError
from govcloud.services import provisioning as svc
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from govcloud.workers.provision import start_provision_worker

from .conftest import Plane
from .lifecycle_plane import provision, servers, submit
from .provisioning_plane import ProvPlane, held, wait_final

DEPARTMENT = "gd-data"  # DR level 5
SOAK_S = 1.5  # a resized server's wait in VERIFY_RESIZE before it is confirmed


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    return {"provision_retries": 2, "provision_backoff_s": 0.05, "provision_poll_s": 0.2,
            "provision_active_timeout_s": 20, "resize_soak_s": SOAK_S}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    return start_provision_worker


@pytest.fixture(scope="module")
def prov(plane: Plane) -> ProvPlane:
    token = plane.add_principal("ops-resize", "operator")
    report = plane.admin.post("/sync", {"full": True})
    assert report["ok"], report
    assert plane.sim.clouds_yaml is not None
    return ProvPlane(plane.url, plane.engine, plane.sim, plane.admin,
                     plane.client(token), plane.sim.clouds_yaml, token)


class Watch:
    """Polls the system's servers in PROD and DR-LOCAL while a resize runs: what it saw."""

    def __init__(self, prov: ProvPlane, system: str) -> None:
        self.prov, self.system = prov, system
        self.seen: list[dict[str, dict[str, str]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        conns = {r: self.prov.cloud(r) for r in ("PROD", "DR-LOCAL")}
        try:
            while not self.stop.is_set():
                self.seen.append({r: {s.name: s.status for s in c.compute.servers(
                    all_projects=True) if s.name.startswith(f"{self.system}-")}
                    for r, c in conns.items()})
                time.sleep(0.05)
        finally:
            for c in conns.values():
                c.close()


@contextmanager
def watching(prov: ProvPlane, system: str) -> Iterator[Watch]:
    watch = Watch(prov, system)
    watch.thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        watch.thread.join(30)


def _flavors(prov: ProvPlane, system: str) -> dict[str, dict[str, str]]:
    return {r: {s.name: s.flavor.original_name for s in v}
            for r, v in servers(prov, system).items()}


def _image_point(prov: ProvPlane, name: str) -> PointRecord:
    """A good recovery point of the cold copy ``name`` in DR-REMOTE, held in its shelved
    image (as a protection cycle records it)."""
    (copy,) = [s for s in servers(prov, "big")["DR-REMOTE"] if s.name == name]
    conn = prov.cloud("DR-REMOTE")
    try:
        (image,) = [i.id for i in conn.image.images() if i.name == f"{name}-shelved"]
    finally:
        conn.close()
    manifest = (("/srv/app/data", "sha256:" + "0" * 64),)
    point = PointRecord(DEPARTMENT, "big", "DR-REMOTE", copy.id, utcnow(), PointKind.FILE_SYNC,
                        10, manifest_digest(manifest),
                        artifacts=(Artifact(ArtifactKind.IMAGE, "DR-REMOTE", image),),
                        manifest=manifest)
    with write_begin(prov.engine) as db:
        point_id = protection_repo.add_recovery_point(db, point)
    with prov.engine.connect() as db:
        whole = protection_repo.recovery_point(db, point_id)
    assert whole is not None
    return whole


def test_resize_one_server_at_a_time_copies_too(prov: ProvPlane) -> None:
    provision(prov, "big", department=DEPARTMENT, count=2)
    ids = {r: sorted(s.id for s in v) for r, v in servers(prov, "big").items()}
    point = _image_point(prov, "big-app-1")
    asked = submit(prov.operator, DEPARTMENT, "big", "resize", {"flavor": "gc.c4m8"})
    assert [(s["site"], s["name"]) for s in asked["plan"]["steps"]] == [
        ("PROD", "big-app-1"), ("DR-LOCAL", "big-app-1"), ("DR-REMOTE", "big-app-1"),
        ("PROD", "big-app-2"), ("DR-LOCAL", "big-app-2"), ("DR-REMOTE", "big-app-2")]
    approved = prov.admin.post(f"/requests/{asked['id']}/approve")
    demand = {s["site"]: s["demand"] for s in approved["placement"]["sites"]}
    # running copies: the growth of the first (2 vCPU) and all of the second in flight (4);
    # the cold copy: one server unshelved (2) and resized (4) at a time
    assert {site: d["vcpu"] for site, d in demand.items()} == {
        "PROD": 6, "DR-LOCAL": 6, "DR-REMOTE": 6}
    with watching(prov, "big") as watch:
        done = wait_final(prov.admin, asked["id"])
    assert done["state"] == "done", done
    # the watch saw every running copy's resize in flight (so it watched the whole run)
    assert {(r, n) for snap in watch.seen for r, v in snap.items()
            for n, status in v.items() if status != "ACTIVE"} == {
        (r, f"big-app-{n}") for r in ("PROD", "DR-LOCAL") for n in (1, 2)}
    for snapshot in watch.seen:  # the system stayed up in every running site
        for region, statuses in snapshot.items():
            assert "ACTIVE" in statuses.values(), (region, statuses)
            assert sum(v != "ACTIVE" for v in statuses.values()) <= 1, (region, statuses)
    assert any("VERIFY_RESIZE" in s["PROD"].values() for s in watch.seen)
    assert _flavors(prov, "big") == {r: {"big-app-1": "gc.c4m8", "big-app-2": "gc.c4m8"}
                                     for r in ("PROD", "DR-LOCAL", "DR-REMOTE")}
    after = servers(prov, "big")
    assert {r: sorted(s.id for s in v) for r, v in after.items()} == ids, "servers replaced"
    assert {s.status for s in after["DR-REMOTE"]} == {"SHELVED_OFFLOADED"}
    # Nova deleted the shelved image the cold copy's point named when it unshelved the copy;
    # the point (the same data, the same time) is held in the image of its new shelving
    with prov.engine.connect() as db:
        moved = protection_repo.recovery_point(db, point.id or 0)
    assert moved is not None and (moved.taken_at, moved.manifest) == (point.taken_at,
                                                                      point.manifest)
    (image,) = [a.id for a in moved.artifacts]
    conn = prov.cloud("DR-REMOTE")
    try:
        shelved = {i.id for i in conn.image.images() if i.name == "big-app-1-shelved"}
    finally:
        conn.close()
    assert shelved == {image} and point.artifacts[0].id not in shelved
    shown = prov.admin.get(f"/systems/{DEPARTMENT}/big")
    assert {m["flavor"] for m in shown["members"]} == {"gc.c4m8"}  # the inventory knows
    assert held(prov.engine, asked["id"]) == 0 and svc.ledger_check(prov.engine)["matches"]
    with pytest.raises(GovCloudError, match="is gc.c4m8 already: nothing to resize"):
        submit(prov.operator, DEPARTMENT, "big", "resize", {"flavor": "gc.c4m8"})


def _service(conn: Any, host: str) -> Any:
    return next(s for s in conn.compute.services() if s.host == host
                and s.binary == "nova-compute")


def test_a_resize_whose_confirmation_fails_is_reverted(prov: ProvPlane) -> None:
    provision(prov, "soak", department=DEPARTMENT, count=2)
    conn = prov.cloud("PROD")
    try:
        asked = submit(prov.operator, DEPARTMENT, "soak", "resize",
                       {"flavor": "gc.c4m8", "members": ["soak-app-1"]})
        member = next(s for s in servers(prov, "soak")["PROD"] if s.name == "soak-app-1")
        source = member.compute_host
        prov.admin.post(f"/requests/{asked['id']}/approve")
        deadline = time.monotonic() + 30
        while conn.compute.get_server(member.id).status != "VERIFY_RESIZE":
            assert time.monotonic() < deadline, "never reached VERIFY_RESIZE"
            time.sleep(0.05)
        # the source compute goes down while the resize waits: Nova refuses to confirm
        service = _service(conn, source)
        conn.compute.put(f"/os-services/{service.id}", json={"forced_down": True},
                         microversion="2.53").raise_for_status()
        try:
            failed = wait_final(prov.admin, asked["id"])
        finally:
            conn.compute.put(f"/os-services/{service.id}", json={"forced_down": False},
                             microversion="2.53").raise_for_status()
        assert failed["state"] == "failed", failed
        assert "confirming the resize failed" in failed["error"]
        assert "reverted to gc.c2m4" in failed["error"]
        back = conn.compute.get_server(member.id)
        assert (back.status, back.flavor.original_name, back.compute_host) == (
            "ACTIVE", "gc.c2m4", source)
    finally:
        conn.close()
    statuses = {s["site"]: s["status"] for s in prov.admin.get(
        f"/requests/{asked['id']}")["servers"] if s["name"] == "soak-app-1"}
    assert statuses == {"PROD": "failed"}  # the copies were never touched
    assert held(prov.engine, asked["id"]) == 0 and svc.ledger_check(prov.engine)["matches"]


def test_a_resize_nova_cannot_do_fails_and_changes_nothing(prov: ProvPlane) -> None:
    """Every other PROD compute service disabled after the last sync: approval (from the
    inventory) lets it through, Nova finds no valid host and puts the server back."""
    provision(prov, "stuck", department=DEPARTMENT, count=2)
    conn = prov.cloud("PROD")
    disabled = []
    try:
        for s in conn.compute.services():
            if s.binary == "nova-compute" and s.status == "enabled":
                conn.compute.put(f"/os-services/{s.id}", json={"status": "disabled"},
                                 microversion="2.53").raise_for_status()
                disabled.append(s.id)
        asked = submit(prov.operator, DEPARTMENT, "stuck", "resize", {"flavor": "gc.c4m8"})
        prov.admin.post(f"/requests/{asked['id']}/approve")
        failed = wait_final(prov.admin, asked["id"])
    finally:
        for sid in disabled:
            conn.compute.put(f"/os-services/{sid}", json={"status": "enabled"},
                             microversion="2.53").raise_for_status()
        conn.close()
        # the worker synced PROD after the failure, with every host disabled: the module's
        # other tests need it as it is again
        assert prov.admin.post("/sync", {"full": True})["ok"]
    assert failed["state"] == "failed", failed
    assert "stuck-app-1" in failed["error"] and "Nova did not resize it" in failed["error"]
    assert "resize migration" in failed["error"] and "is error" in failed["error"]
    assert _flavors(prov, "stuck") == {r: {"stuck-app-1": "gc.c2m4", "stuck-app-2": "gc.c2m4"}
                                       for r in ("PROD", "DR-LOCAL", "DR-REMOTE")}
    assert {s.status for s in servers(prov, "stuck")["PROD"]} == {"ACTIVE"}
    assert held(prov.engine, asked["id"]) == 0 and svc.ledger_check(prov.engine)["matches"]


def test_bad_resizes_are_refused_and_change_nothing(prov: ProvPlane) -> None:
    provision(prov, "small", department=DEPARTMENT, count=1)
    before = prov.admin.get("/requests")["count"]
    for body, text in (({"flavor": "gc.nope"}, "unknown flavor 'gc.nope'"),
                       ({"flavor": "gc.c2m4"}, "nothing to resize"),
                       ({"flavor": "gc.c4m8", "members": ["small-app-9"]},
                        "has no member 'small-app-9'"),
                       ({"flavor": ""}, "at least 1 character"),
                       ({}, "flavor")):
        with pytest.raises(GovCloudError, match=text) as err:
            submit(prov.operator, DEPARTMENT, "small", "resize", body)
        assert err.value.http_status == 422, body
    assert prov.admin.get("/requests")["count"] == before
