"""Volume protection cycles end to end (issue 19, "Data protection"), over real HTTP on the
simulator with unmodified openstacksdk: a production server with a Cinder volume attached is
protected by backups — ``govcloud dr protect`` backs the volume up in PROD (full, then
incremental), imports each backup into the copy's DR site and records a ``volume-backup``
point naming it, with the guest's manifest read over SSH; the cold copy stays shelved; a
failed backup or import records a failed or partial point that keeps the last good one;
retention deletes old backups in both sites but never one a latest good point needs; and
``dr_protect_volumes: never`` keeps the file-level cycle."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from govcloud.client import ApiClient
from govcloud.cloud import dr
from govcloud.cloud import provision as cloud
from govcloud.cloud.connect import connect
from govcloud.demo.sandbox import Sandbox
from govcloud.domain.recovery import ArtifactKind, PointKind, PointStatus
from govcloud.domain.sites import default_sites
from tests.integration.dr.protect_helpers import (
    DEPARTMENT,
    data,
    history,
    latest,
    local_plane,
    manifest,
    provision_system,
    server_status,
    system_servers,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow
SITES = {s.name: s for s in default_sites()}
WAIT = 30.0


def _conn(plane: Plane, site: str) -> Any:
    """A connection scoped to the department's project in ``site`` (the admin user's)."""
    assert plane.sim.clouds_yaml is not None
    admin = connect(SITES[site], clouds_yaml=plane.sim.clouds_yaml)
    identity: Any = admin.identity
    project = next(p for p in identity.projects() if p.name == DEPARTMENT)
    return cloud.project_connection(admin, site, project.id)


def _with_volume(plane: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
                 system: str) -> tuple[dict[str, Sandbox], str, dict[str, Any]]:
    """Provision ``system``, attach a 1 GiB data volume to its production server; the
    sandboxes, the volume's id and site → the system's server there."""
    boxes = provision_system(plane, ops, sandboxes, system)
    servers = system_servers(plane, system)
    prod = _conn(plane, "PROD")
    vol = dr.create_volume(prod, "PROD", f"{system}-data", size=1)
    dr.wait_volume(prod, "PROD", vol, timeout_s=WAIT)
    dr.attach_volume(prod, "PROD", servers["PROD"].id, vol, timeout_s=WAIT)
    return boxes, vol, servers


def _backups(conn: Any, volume_id: str) -> dict[str, Any]:
    return {b.id: b for b in conn.block_storage.backups(details=True)
            if b.volume_id == volume_id and str(b.name).startswith("govcloud-protect-")}


def test_a_cycle_backs_the_volumes_up_and_imports_them_into_the_dr_sites(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str]) -> None:
    plane = cli_env
    boxes, vol, servers = _with_volume(plane, ops, sandboxes, "vault")
    code, out, err = cli(capsys, "dr", "protect", "--system", "vault")
    assert code == 0, out + err
    assert f"full backup of volume {vol} (/dev/vdb) in PROD" in out
    assert "2 of 2 cycles ok" in out and "syncing" not in out
    points = latest(plane.engine, "vault")
    assert set(points) == {"DR-LOCAL", "DR-REMOTE"}
    prod = _conn(plane, "PROD")
    made = _backups(prod, vol)
    # one backup per copy, one after the other (Cinder backs a volume up once at a time):
    # the first full, the second incremental on it
    assert len(made) == 2 and sorted(b.is_incremental for b in made.values()) == [False, True]
    (full,) = [b.id for b in made.values() if not b.is_incremental]
    expected = {f"/srv/app/{p}": f"sha256:{d}" for p, d in data(boxes["PROD"]).items()}
    for site, point in points.items():
        assert point.kind is PointKind.VOLUME_BACKUP and point.status is PointStatus.OK
        (artifact,) = point.artifacts
        assert (artifact.kind, artifact.site) == (ArtifactKind.BACKUP, site)
        assert artifact.id in made  # the same backup id in both sites
        there = _conn(plane, site).block_storage.get_backup(artifact.id)
        assert there.status == "available" and there.size == 1
        assert point.size_bytes == 1 << 30
        assert point.id is not None and manifest(plane.engine, point.id) == expected
        # an incremental backup came with the full one it builds on
        assert full in _backups(_conn(plane, site), vol)
    # the copies are not touched: the cold one stays shelved, no file was synced to it
    assert server_status(plane, "vault", "DR-REMOTE") == "SHELVED_OFFLOADED"
    assert data(boxes["DR-LOCAL"]) == {}
    # the next cycle is incremental, and its import brings the chain along
    code, out, err = cli(capsys, "dr", "protect", "--system", "vault", "--json")
    assert code == 0, err
    cycles = json.loads(out)["cycles"]
    assert {c["status"] for c in cycles} == {"ok"}
    assert all(c["artifacts"][0].startswith(f"backup:{c['site']}:") for c in cycles)
    after = _backups(prod, vol)
    assert len(after) == 4 and sum(b.is_incremental for b in after.values()) == 3
    for c in cycles:
        newest = c["artifacts"][0].rsplit(":", 1)[1]
        assert _conn(plane, c["site"]).block_storage.get_backup(newest).is_incremental
    assert servers["PROD"].id


def _count(conn: Any) -> int:
    """How many backups the project has: a quota of that many allows no more."""
    return len(list(conn.block_storage.backups()))


def test_failures_keep_the_last_good_point_and_retention_keeps_what_it_needs(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    _, vol, _ = _with_volume(plane, ops, sandboxes, "deeds")
    protector = local_plane(plane, plane_settings, dr_protect_volume_keep=2).protector
    copies = {c.site: c for c in protector.copies(system="deeds")}
    first = protector.cycle(copies["DR-REMOTE"]).point
    assert first is not None and first.status is PointStatus.OK, first
    good = latest(plane.engine, "deeds")["DR-REMOTE"]
    # the DR site refuses the import (no backup quota left): a partial point
    admin_remote = connect(SITES["DR-REMOTE"], clouds_yaml=plane.sim.clouds_yaml)
    remote = _conn(plane, "DR-REMOTE")
    project = remote.current_project_id
    admin_remote.block_storage.update_quota_set(project, backups=_count(remote))
    partial = protector.cycle(copies["DR-REMOTE"]).point
    assert partial is not None and partial.status is PointStatus.PARTIAL, partial
    assert partial.error and "site DR-REMOTE" in partial.error and not partial.artifacts
    assert latest(plane.engine, "deeds")["DR-REMOTE"] == good
    admin_remote.block_storage.update_quota_set(project, backups=-1)
    # PROD refuses the backup: a failed point, still the good one latest
    admin_prod = connect(SITES["PROD"], clouds_yaml=plane.sim.clouds_yaml)
    prod = _conn(plane, "PROD")
    admin_prod.block_storage.update_quota_set(prod.current_project_id, backups=_count(prod))
    failed = protector.cycle(copies["DR-REMOTE"]).point
    assert failed is not None and failed.status is PointStatus.FAILED, failed
    assert latest(plane.engine, "deeds")["DR-REMOTE"] == good
    assert [p.status for p in history(plane.engine, "DR-REMOTE", good.server_id)] == [
        PointStatus.FAILED, PointStatus.PARTIAL, PointStatus.OK]
    admin_prod.block_storage.update_quota_set(prod.current_project_id, backups=-1)
    # the hot copy cycles on; retention keeps 2 per site, plus the cold copy's good backup
    # and the full backup its chain needs
    (kept_remote,) = good.artifacts
    for _ in range(4):
        point = protector.cycle(copies["DR-LOCAL"]).point
        assert point is not None and point.status is PointStatus.OK, point
    # PROD made R1 (full), R2 (the partial cycle's), then L1 (full: chains are 2 long),
    # L2, L3 (full), L4: kept are L3 and L4, the newest two, and R1, the cold copy's latest
    left = _backups(prod, vol)
    (newest,) = latest(plane.engine, "deeds")["DR-LOCAL"].artifacts
    assert kept_remote.id in left and newest.id in left and len(left) == 3
    assert not left[kept_remote.id].is_incremental and left[newest.id].is_incremental
    local = _backups(_conn(plane, "DR-LOCAL"), vol)
    assert newest.id in local and len(local) == 2
    assert set(_backups(remote, vol)) == {kept_remote.id}
    # never: the file-level cycle, as before
    files = local_plane(plane, plane_settings, dr_protect_volumes="never").protector
    point = files.cycle(copies["DR-LOCAL"]).point
    assert point is not None and point.kind is PointKind.FILE_SYNC, point
