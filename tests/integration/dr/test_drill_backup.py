"""A drill from Cinder backups (docs/dr.md, "Drills", bring_up) on the simulator over HTTP: the
cold copy's latest recovery point holds a Cinder backup of a bootable volume in DR-REMOTE (a
volume protection cycle's point), not an image; the drill restores the backup into a new
volume, boots the drill's server from it on the isolated network, checks it against the
point's manifest, counts the restore in its achieved RTO, and removes the restored volume
with everything else it made."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from govcloud.cloud import dr_volumes as cinder
from govcloud.cloud.provision import project_connection
from govcloud.demo.sandbox import Sandbox, write_files
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord, manifest_digest
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.dr.drills import (
    DATA,
    DEPARTMENT,
    SITE,
    approved_drill,
    cloud,
    leftovers,
    provisioned,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
SYSTEM = "books"
FILES = {"books.db": b"B" * 4000}


def _backup_point(plane: Plane, copy_id: str) -> str:
    """A backup of a bootable volume in DR-REMOTE, recorded as the copy's latest good point
    (10 minutes old) with the manifest of FILES; the backup's id."""
    assert plane.sim.clouds_yaml is not None
    admin = cloud(SITE, plane.sim.clouds_yaml)
    try:
        copy = admin.compute.get_server(copy_id)
        conn = project_connection(admin, SITE, copy.project_id)
        image = next(i for i in conn.image.images() if i.name.startswith("cirros"))
        vol = conn.block_storage.create_volume(size=1, name="books-boot", image_id=image.id)
        cinder.wait_volume(conn, SITE, vol.id, timeout_s=30)
        backup = cinder.create_backup(conn, SITE, vol.id, "govcloud-protect-books",
                                      incremental=False, force=True)
        cinder.wait_backup(conn, SITE, backup, timeout_s=30)
    finally:
        admin.close()
    manifest = tuple(sorted((f"{DATA}/{n}", "sha256:" + hashlib.sha256(d).hexdigest())
                            for n, d in FILES.items()))
    with write_begin(plane.engine) as db:
        protection_repo.add_recovery_point(db, PointRecord(
            DEPARTMENT, SYSTEM, SITE, copy_id, utcnow() - timedelta(minutes=10),
            PointKind.VOLUME_BACKUP, 1 << 30, manifest_digest(manifest),
            artifacts=(Artifact(ArtifactKind.BACKUP, SITE, backup),), manifest=manifest))
    return backup


def test_a_drill_restores_the_recovery_points_backup(
        cli_env: Plane, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    plane = cli_env
    operator, made = provisioned(plane, SYSTEM, "ops-backup-drill")
    copy_id = made[SITE]
    backup = _backup_point(plane, copy_id)
    box = sandboxes("backup-drill")  # what the restored server's guest holds
    write_files(box.root, DATA, FILES)
    assert httpx.post(f"{plane.sim.base_url}/_sim/sandboxes",
                      json={"sandboxes": [box.endpoint()]}, timeout=10).status_code == 200

    drill_id = approved_drill(plane, capsys, monkeypatch, operator, SYSTEM)
    code, out, err = cli(capsys, "dr", "drill", "run", str(drill_id), "--json")
    assert code == 0, out + err
    shown = json.loads(out)
    assert shown["state"] == "passed", json.dumps(shown["steps"], indent=1)
    bring_up = next(s["output"] for s in shown["steps"] if s["step"] == "bring_up")
    assert f"restored from 1 backups ({backup}) into volumes" in bring_up
    assert "booted from volume" in bring_up
    (system,) = shown["evidence"]["systems"]
    assert system["healthy"] and [c["matched"] for c in system["checksums"]] == [True]
    # the achieved RTO runs from the start to healthy: the restore is inside it
    started = next(s for s in shown["steps"] if s["step"] == "bring_up")
    assert system["achieved_rto_s"] > 0 and started["finished_at"] >= started["started_at"]
    # the restored volume went with everything else the drill made
    teardown = next(s["output"] for s in shown["steps"] if s["step"] == "teardown")
    assert f"deleted volume govcloud-drill-{drill_id}-{SYSTEM}-app-1-vol0" in teardown
    assert plane.sim.clouds_yaml is not None
    assert leftovers(plane.sim.clouds_yaml, drill_id) == []
