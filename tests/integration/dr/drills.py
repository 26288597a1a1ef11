"""Helpers of the drill tests (test_drill*.py): the system they drill, how it is provisioned,
the recovery point they give its cold copy, and what of a drill is in the clouds."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.cloud.connect import connect
from govcloud.domain.recovery import (
    Artifact,
    ArtifactKind,
    PointKind,
    PointRecord,
    manifest_digest,
)
from govcloud.domain.sites import default_sites
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.provisioning_plane import request, wait_final
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

DEPARTMENT, SYSTEM, SITE = "gd-agri", "ledger", "DR-REMOTE"  # DR level 3: a cold copy
DATA = "/srv/ledger"


def cloud(region: str, clouds_yaml: Path) -> Any:
    site = next(s for s in default_sites() if s.name == region)
    return connect(site, clouds_yaml=clouds_yaml)


def provisioned(plane: Plane, system: str, operator: str) -> tuple[str, dict[str, str]]:
    """``system`` of DEPARTMENT (one server in PROD, its cold copy in SITE) requested by a new
    operator called ``operator`` and approved by the admin, the tenancy applied and synced
    before and the inventory synced after: (the operator's token, site → the server there)."""
    plane.admin.post("/tenants/apply")
    assert plane.admin.post("/sync", {"full": True})["ok"]
    token = plane.add_principal(operator, "operator")
    rid = plane.client(token).post("/requests", request(system, count=1,
                                                        department=DEPARTMENT))["id"]
    plane.admin.post(f"/requests/{rid}/approve")
    assert wait_final(plane.admin, rid)["state"] == "done"
    assert plane.admin.post("/sync", {"full": True})["ok"]
    made = {s["site"]: s["server_id"] for s in plane.admin.get(f"/requests/{rid}")["servers"]}
    return token, made


def approved_drill(plane: Plane, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch, operator: str, system: str) -> int:
    """A drill of ``system`` in SITE planned through the CLI as ``operator`` (a token: the
    CLI's from then on) and approved by the admin; the drill's id."""
    monkeypatch.setenv("GOVCLOUD_TOKEN", operator)
    code, out, err = cli(capsys, "dr", "drill", "plan", DEPARTMENT, "--system", system,
                         "--site", SITE, "--json")
    assert code == 0, out + err
    drill_id = int(json.loads(out)["id"])
    plane.admin.post(f"/dr/drills/{drill_id}/approve")
    return drill_id


def record_point(engine: Engine, clouds_yaml: Path, copy_id: str, files: dict[str, bytes], *,
                 age: timedelta) -> tuple[tuple[str, str], ...]:
    """A good recovery point of the copy ``copy_id`` taken ``age`` ago, holding its shelved
    image (what the drill boots from) and the manifest of ``files`` under DATA."""
    conn = cloud(SITE, clouds_yaml)
    try:
        image = next(i for i in conn.image.images() if i.name == f"{SYSTEM}-app-1-shelved")
    finally:
        conn.close()
    manifest = tuple(sorted((f"{DATA}/{name}", "sha256:" + hashlib.sha256(data).hexdigest())
                            for name, data in files.items()))
    with write_begin(engine) as db:
        protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, SYSTEM, SITE, copy_id, utcnow() - age, PointKind.FILE_SYNC,
            sum(map(len, files.values())), manifest_digest(manifest),
            artifacts=(Artifact(ArtifactKind.IMAGE, SITE, image.id),), manifest=manifest))
    return manifest


def leftovers(clouds_yaml: Path, drill_id: int) -> list[str]:
    """Anything named for the drill, or on its networks, in every region."""
    found = []
    prefix = f"govcloud-drill-{drill_id}-"
    for site in default_sites():
        conn = cloud(site.name, clouds_yaml)
        try:
            nets = {n.id for n in conn.network.networks() if (n.name or "").startswith(prefix)}
            found += [f"{site.name} server {s.name}" for s in conn.compute.servers(
                all_projects=True) if (s.name or "").startswith(prefix)]
            found += [f"{site.name} network {n}" for n in nets]
            found += [f"{site.name} subnet {s.id}" for s in conn.network.subnets()
                      if s.network_id in nets or (s.name or "").startswith(prefix)]
            found += [f"{site.name} port {p.id}" for p in conn.network.ports()
                      if p.network_id in nets]
            found += [f"{site.name} volume {v.id}" for v in conn.block_storage.volumes(
                all_projects=True) if (v.name or "").startswith(prefix)]
        finally:
            conn.close()
    return found
