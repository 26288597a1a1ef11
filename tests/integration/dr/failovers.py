"""Shared by the failover tests: a gd-agri system (DR level 3) provisioned with one server in
PROD and its cold copy in DR-REMOTE, each backed by an sshd sandbox, and a recovery point."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.recovery import PointKind, PointRecord, manifest_digest
from govcloud.domain.sites import default_sites
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.provisioning_plane import request, wait_final
from tests.integration.migrate.conftest import Plane

DEPARTMENT, SITE = "gd-agri", "DR-REMOTE"  # DR level 3: a cold copy in DR-REMOTE
FILES = {"data.db": b"D" * 8000, "conf/app.ini": b"[app]\nname=x\n"}
DATA = "/srv/app"


@dataclass
class System:
    name: str
    prod_id: str
    copy_id: str
    prod_box: Sandbox
    copy_box: Sandbox


def cloud(plane: Plane, region: str) -> Any:
    site = next(s for s in default_sites() if s.name == region)
    assert plane.sim.clouds_yaml is not None
    return connect(site, clouds_yaml=plane.sim.clouds_yaml)


def server(plane: Plane, region: str, server_id: str) -> Any:
    conn = cloud(plane, region)
    try:
        return conn.compute.get_server(server_id)
    finally:
        conn.close()


def pool(plane: Plane, boxes: list[Sandbox]) -> None:
    answer = httpx.post(f"{plane.sim.base_url}/_sim/sandboxes",
                        json={"sandboxes": [b.endpoint() for b in boxes]}, timeout=10)
    assert answer.status_code == 200


def protect(plane: Plane, sandboxes: Callable[[str], Sandbox], name: str, *,
            point_age: timedelta = timedelta(minutes=10)) -> System:
    """``name`` of gd-agri provisioned with one server in PROD and its cold copy in DR-REMOTE,
    each backed by an sshd sandbox holding FILES, and a recovery point of the copy."""
    admin = plane.admin
    admin.post("/tenants/apply")
    assert admin.post("/sync", {"full": True})["ok"]
    boxes = [sandboxes(f"{name}-a"), sandboxes(f"{name}-b")]
    for box in boxes:
        write_files(box.root, DATA, FILES)
    pool(plane, boxes)
    rid = admin.post("/requests", request(name, count=1, department=DEPARTMENT))["id"]
    plane.approver.post(f"/requests/{rid}/approve")
    assert wait_final(admin, rid)["state"] == "done"
    assert admin.post("/sync", {"full": True})["ok"]
    made = {s["site"]: s["server_id"] for s in admin.get(f"/requests/{rid}")["servers"]}
    port = {b.port: b for b in boxes}

    def box_of(region: str) -> Sandbox:
        meta = server(plane, region, made[region]).metadata
        return port[int(str(meta["sim:ssh"]).rpartition(":")[2])]

    manifest = tuple(sorted((f"{DATA}/{n}", "sha256:" + hashlib.sha256(d).hexdigest())
                            for n, d in FILES.items()))
    with write_begin(plane.engine) as db:
        protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, name, SITE, made[SITE], utcnow() - point_age, PointKind.FILE_SYNC,
            8000, manifest_digest(manifest), manifest=manifest))
    return System(name, made["PROD"], made[SITE], box_of("PROD"), box_of(SITE))
