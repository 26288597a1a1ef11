"""Restoring a recovery point in a DR site (govcloud/services/protection_restore.py) on the
simulator over real HTTP with unmodified openstacksdk: a point's backups, exported from PROD
and imported into DR-LOCAL, restored into volumes and a server booted on an isolated network —
from the bootable volume, from an image with the data volume attached, or from the point's
image —, what was made returned and removed again; a point with nothing in the site, or a
failed one, is refused; a restore that fails part way leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from govcloud.cloud import dr
from govcloud.cloud import provision as cloud
from govcloud.cloud.connect import connect
from govcloud.domain.recovery import (
    Artifact,
    ArtifactKind,
    PointKind,
    PointRecord,
    PointStatus,
    manifest_digest,
)
from govcloud.domain.sites import default_sites
from govcloud.errors import NotFound, PermanentError
from govcloud.services.protection_restore import Restored, remove_restored, restore_point
from govcloud.sim.server import RunningSimulator

SITES = {s.name: s for s in default_sites()}
IMAGE = "cirros-0.6.2-x86_64-disk"
FLAVOR = "gc.c1m2"
WAIT = 30.0
TICK = 0.1
TAG = "drill-21"


def _conns(clouds: Path) -> tuple[Any, Any]:
    out = []
    for name in ("PROD", "DR-LOCAL"):
        admin = connect(SITES[name], clouds_yaml=clouds)
        identity: Any = admin.identity
        project = next(p for p in identity.projects() if p.name == "gd-psd")
        out.append(cloud.project_connection(admin, name, project.id))
    return out[0], out[1]


def _carried(prod: Any, local: Any, volume_id: str) -> str:
    """A backup of the PROD volume, imported into DR-LOCAL (what a volume cycle does)."""
    backup = dr.create_backup(prod, "PROD", volume_id, f"govcloud-protect-{volume_id}-1")
    dr.wait_backup(prod, "PROD", backup, timeout_s=WAIT, interval_s=TICK)
    dr.import_backup(local, "DR-LOCAL", dr.export_backup(prod, "PROD", backup))
    dr.wait_backup(local, "DR-LOCAL", backup, timeout_s=WAIT, interval_s=TICK)
    return backup


def _point(*artifacts: Artifact, status: PointStatus = PointStatus.OK) -> PointRecord:
    ok = status is PointStatus.OK
    return PointRecord("gd-psd", "ledger", "DR-LOCAL", "copy-1", datetime.now(UTC),
                       PointKind.VOLUME_BACKUP, 1 << 30, manifest_digest(()) if ok else None,
                       status, None if ok else "failed", id=7,
                       artifacts=artifacts if ok else ())


def _attached(conn: Any, server_id: str) -> set[str]:
    return {a.volume_id for a in conn.compute.volume_attachments(server_id)}


def test_backups_come_up_as_a_server_on_the_network_and_go_again(
        sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    prod, local = _conns(clouds)
    image = cloud.resolve(prod, "PROD", flavor=FLAVOR, image=IMAGE, network="prod-net").image_id
    root: Any = prod.block_storage.create_volume(size=1, name="ledger-root", image_id=image)
    data = dr.create_volume(prod, "PROD", "ledger-data", size=2)
    for vol in (str(root.id), data):
        dr.wait_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    backups = [_carried(prod, local, data), _carried(prod, local, str(root.id))]
    net = dr.create_isolated_network(local, "DR-LOCAL", f"{TAG}-net", tags=[TAG])
    point = _point(*(Artifact(ArtifactKind.BACKUP, "DR-LOCAL", b) for b in backups))

    # the root volume's backup is bootable: the server boots from it, the data volume attached
    made = restore_point(local, "DR-LOCAL", point, name=f"{TAG}-ledger", flavor=FLAVOR,
                         network_id=net.network_id, tag=TAG, timeout_s=WAIT, interval_s=TICK)
    assert made.boot == "volume" and made.server_id is not None and len(made.volumes) == 2
    server: Any = local.compute.get_server(made.server_id)
    assert server.status == "ACTIVE" and TAG in (server.tags or [])
    assert net.network_id in {p.network_id for p in local.network.ports(
        device_id=made.server_id)}
    assert _attached(local, made.server_id) == set(made.volumes)
    assert local.block_storage.get_volume(made.volumes[0]).is_bootable  # boot volume first
    found = {(x.kind, x.id) for x in dr.leftovers(local, "DR-LOCAL", tag=TAG)}
    assert {("server", made.server_id)} | {("volume", v) for v in made.volumes} <= found
    remove_restored(local, made, timeout_s=WAIT, interval_s=TICK)
    assert {x.kind for x in dr.leftovers(local, "DR-LOCAL", tag=TAG)} == {"network", "subnet"}

    # only the data volume: booted from the image the caller gives, the volume attached
    local_image = cloud.resolve(local, "DR-LOCAL", flavor=FLAVOR, image=IMAGE,
                                network="dr-local-net").image_id
    data_only = _point(Artifact(ArtifactKind.BACKUP, "DR-LOCAL", backups[0]))
    made = restore_point(local, "DR-LOCAL", data_only, name=f"{TAG}-ledger", flavor=FLAVOR,
                         network_id=net.network_id, image_id=local_image, tag=TAG,
                         timeout_s=WAIT, interval_s=TICK)
    assert made.boot == "image" and _attached(local, str(made.server_id)) == set(made.volumes)
    remove_restored(local, made, timeout_s=WAIT, interval_s=TICK)
    # ... and without an image, the volume alone
    made = restore_point(local, "DR-LOCAL", data_only, name=f"{TAG}-ledger", flavor=FLAVOR,
                         network_id=net.network_id, tag=TAG, timeout_s=WAIT, interval_s=TICK)
    assert (made.server_id, made.boot, len(made.volumes)) == (None, "", 1)
    assert local.block_storage.get_volume(made.volumes[0]).status == "available"
    remove_restored(local, made, timeout_s=WAIT, interval_s=TICK)

    # a cold copy's point: its image in the site
    shelved = _point(Artifact(ArtifactKind.IMAGE, "DR-LOCAL", local_image))
    made = restore_point(local, "DR-LOCAL", shelved, name=f"{TAG}-ledger", flavor=FLAVOR,
                         network_id=net.network_id, tag=TAG, timeout_s=WAIT, interval_s=TICK)
    assert made.boot == "image" and made.volumes == []
    assert local.compute.get_server(str(made.server_id)).image["id"] == local_image
    remove_restored(local, made, timeout_s=WAIT, interval_s=TICK)
    dr.delete_isolated_network(local, "DR-LOCAL", net.network_id)
    assert dr.leftovers(local, "DR-LOCAL", tag=TAG) == []


def test_refusals_and_a_failed_restore_leave_nothing(
        sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    prod, local = _conns(clouds)
    data = dr.create_volume(prod, "PROD", "ledger-data", size=1)
    dr.wait_volume(prod, "PROD", data, timeout_s=WAIT, interval_s=TICK)
    backup = _carried(prod, local, data)
    net = dr.create_isolated_network(local, "DR-LOCAL", f"{TAG}-net", tags=[TAG])
    elsewhere = _point(Artifact(ArtifactKind.BACKUP, "DR-REMOTE", backup))
    with pytest.raises(PermanentError, match="holds no backup or image in site DR-LOCAL") \
            as wrong_site:
        restore_point(local, "DR-LOCAL", elsewhere, name="x", flavor=FLAVOR,
                      network_id=net.network_id, timeout_s=WAIT)
    assert "backup in DR-REMOTE" in wrong_site.value.message and wrong_site.value.hint
    with pytest.raises(PermanentError, match="is failed: nothing to restore"):
        restore_point(local, "DR-LOCAL", _point(status=PointStatus.FAILED), name="x",
                      flavor=FLAVOR, network_id=net.network_id, timeout_s=WAIT)
    # an unknown flavor fails the boot after the volume was restored: the volume goes again
    image = cloud.resolve(local, "DR-LOCAL", flavor=FLAVOR, image=IMAGE,
                          network="dr-local-net").image_id
    with pytest.raises(NotFound, match="unknown flavor"):
        restore_point(local, "DR-LOCAL", _point(Artifact(ArtifactKind.BACKUP, "DR-LOCAL",
                                                         backup)),
                      name=f"{TAG}-x", flavor="no-such", network_id=net.network_id,
                      image_id=image, tag=TAG, timeout_s=WAIT, interval_s=TICK)
    assert {x.kind for x in dr.leftovers(local, "DR-LOCAL", tag=TAG)} == {"network", "subnet"}
    remove_restored(local, Restored("DR-LOCAL"), timeout_s=WAIT)  # nothing made: a no-op
    dr.delete_isolated_network(local, "DR-LOCAL", net.network_id)
