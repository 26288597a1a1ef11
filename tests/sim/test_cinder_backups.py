"""Cinder volume backups in the simulator, through unmodified openstacksdk over HTTP: create
(full, incremental, forced for an in-use volume), the volume's ``backing-up`` status, list and
show, delete rules, restore into a new or a given volume, and export_record/import_record from
one region's Cinder into another's."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from openstack import exceptions

from tests.sim.conftest import SimHandle
from tests.sim.osc import osc

MEMBER = "govcloud-sim-gd-psd"


@pytest.fixture
def user(sim: SimHandle) -> Any:
    return sim.connect(MEMBER)


def _volume(user: Any, name: str, size: int = 2) -> Any:
    vol = user.block_storage.create_volume(name=name, size=size)
    return user.block_storage.wait_for_status(vol, "available", wait=30, interval=0.1)


def _ready(bs: Any, backup: Any) -> Any:
    return bs.wait_for_status(bs.get_backup(backup.id), "available", failures=["error"],
                              wait=30, interval=0.1)


def test_backup_create_incremental_delete_and_quota(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "bk-src", size=3)
    refused = bs.post("/backups", json={"backup": {"volume_id": vol.id, "incremental": True}},
                      raise_exc=False)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        "Invalid backup: No backups available to do an incremental backup.")
    full = bs.create_backup(volume_id=vol.id, name="full", description="nightly")
    assert bs.get_volume(vol.id).status == "backing-up"
    full = _ready(bs, full)
    assert bs.get_volume(vol.id).status == "available"
    assert (full.size, full.is_incremental, full.volume_id, full.name) == (3, False, vol.id,
                                                                           "full")
    incr = _ready(bs, bs.create_backup(volume_id=vol.id, name="incr", is_incremental=True))
    assert incr.is_incremental and bs.get_backup(full.id).has_dependent_backups
    assert {b.id for b in bs.backups(volume_id=vol.id)} == {full.id, incr.id}
    assert [b.name for b in bs.backups(details=False, name="incr")] == ["incr"]
    quota = bs.get_quota_set(user.current_project_id, usage=True)
    assert quota.usage["backups"] == 2 and quota.usage["backup_gigabytes"] == 6
    assert bs.get_limits().absolute.total_backups_used == 2
    with pytest.raises(exceptions.BadRequestException, match="Incremental backups exist"):
        bs.delete_backup(full, ignore_missing=False)
    bs.delete_backup(incr, ignore_missing=False)
    bs.wait_for_delete(incr, interval=0.1, wait=30)
    bs.delete_backup(full, ignore_missing=False)
    bs.wait_for_delete(full, interval=0.1, wait=30)
    with pytest.raises(exceptions.NotFoundException, match="could not be found"):
        bs.get_backup(full.id)


def test_in_use_volume_needs_force_and_missing_volume(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "bk-busy")
    with sim.sim.lock:
        sim.cloud.regions["PROD"].volumes[vol.id].status = "in-use"
    refused = bs.post("/backups", json={"backup": {"volume_id": vol.id}}, raise_exc=False)
    assert refused.status_code == 400
    assert "Backing up an in-use volume must use the force flag." in refused.text
    forced = _ready(bs, bs.create_backup(volume_id=vol.id, force=True))
    assert bs.get_volume(vol.id).status == "in-use"  # back to what it was
    assert forced.status == "available"
    missing = bs.post("/backups", json={"backup": {
        "volume_id": "00000000-0000-4000-8000-000000000000"}}, raise_exc=False)
    assert missing.status_code == 404 and "could not be found" in missing.text


def test_restore_into_new_and_given_volume(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "bk-restore", size=2)
    backup = _ready(bs, bs.create_backup(volume_id=vol.id))
    restored = bs.restore_backup(backup, name="from-backup")
    assert restored.volume_id and restored.volume_name == "from-backup"
    assert bs.get_backup(backup.id).status == "restoring"
    assert bs.get_volume(restored.volume_id).status == "restoring-backup"
    new = bs.wait_for_status(bs.get_volume(restored.volume_id), "available", wait=30,
                             interval=0.1)
    assert new.size == 2 and _ready(bs, backup).status == "available"
    small = _volume(user, "bk-small", size=1)
    too_small = bs.post(f"/backups/{backup.id}/restore",
                        json={"restore": {"volume_id": small.id}}, raise_exc=False)
    assert too_small.status_code == 400
    assert "volume size 1 is too small to restore backup of size 2." in too_small.text
    target = _volume(user, "bk-target", size=2)
    answer = bs.post(f"/backups/{backup.id}/restore", json={"restore": {"volume_id": target.id}})
    assert answer.json()["restore"] == {"backup_id": backup.id, "volume_id": target.id,
                                        "volume_name": "bk-target"}
    admin = sim.connect("govcloud-sim").block_storage
    _ready(bs, backup)
    admin.reset_backup_status(backup, "error")
    in_error = bs.post(f"/backups/{backup.id}/restore", json={"restore": {"name": "x"}},
                       raise_exc=False)
    assert in_error.status_code == 400
    assert in_error.json()["badRequest"]["message"] == (
        "Invalid backup: Backup status must be available")


def test_export_and_import_into_another_region(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "bk-export", size=2)
    backup = _ready(bs, bs.create_backup(volume_id=vol.id, name="to-dr"))
    member_export = bs.get(f"/backups/{backup.id}/export_record", raise_exc=False)
    assert member_export.status_code == 403  # admin-only by Cinder's default policy
    prod = sim.connect("govcloud-sim", region="PROD").block_storage
    record = prod.get(f"/backups/{backup.id}/export_record").json()["backup-record"]
    assert set(record) == {"backup_service", "backup_url"}
    again = prod.post("/backups/import_record", json={"backup-record": record},
                      raise_exc=False)
    assert again.status_code == 400 and "Backup already exists in database." in again.text
    dr = sim.connect("govcloud-sim", region="DR-REMOTE").block_storage
    answer = dr.post("/backups/import_record", json={"backup-record": record})
    assert answer.status_code == 201 and answer.json()["backup"]["id"] == backup.id
    imported = dr.wait_for_status(dr.get_backup(backup.id), "available", wait=30,
                                  interval=0.1)
    assert (imported.size, imported.name) == (2, "to-dr")
    restored = dr.restore_backup(imported, name="dr-copy")
    vol_dr = dr.wait_for_status(dr.get_volume(restored.volume_id), "available", wait=30,
                                interval=0.1)
    assert vol_dr.size == 2 and vol_dr.name == "dr-copy"
    garbage = dr.post("/backups/import_record", json={"backup-record": {
        "backup_service": record["backup_service"], "backup_url": "not base64!"}},
        raise_exc=False)
    assert garbage.status_code == 400
    wrong = dr.post("/backups/import_record", json={"backup-record": {
        "backup_service": "cinder.backup.drivers.nfs", "backup_url": _other(record)}})
    failed = dr.wait_for_status(dr.get_backup(wrong.json()["backup"]["id"]), "error",
                                wait=30, interval=0.1)
    assert failed.fail_reason


def _other(record: dict[str, str]) -> str:
    """The same record under another backup id."""
    doc = json.loads(base64.b64decode(record["backup_url"]))
    doc["id"] = "11111111-1111-4111-8111-111111111111"
    return base64.b64encode(json.dumps(doc).encode()).decode()


def test_snapshot_and_backup_commands_of_the_openstack_cli(sim: SimHandle) -> None:
    """python-openstackclient (its own clients, not the SDK calls above) against the same
    resources: create, list, show, restore, delete."""
    cloud = "govcloud-sim-gd-hrss"
    vol = osc(sim, "volume", "create", "--size", "2", "cli-src", cloud=cloud)
    region = sim.cloud.regions["PROD"]
    with sim.sim.lock:
        region.volumes[vol["id"]].ready_at = 0  # skip the creating delay
    snap = osc(sim, "volume", "snapshot", "create", "--volume", "cli-src", "cli-snap",
               cloud=cloud)
    assert snap["name"] == "cli-snap" and snap["size"] == 2
    with sim.sim.lock:
        region.snapshots[snap["id"]].ready_at = 0
    rows = osc(sim, "volume", "snapshot", "list", cloud=cloud)
    assert [(r["Name"], r["Status"], r["Size"]) for r in rows] == [("cli-snap", "available", 2)]
    backup = osc(sim, "volume", "backup", "create", "--name", "cli-backup", "cli-src",
                 cloud=cloud)
    with sim.sim.lock:
        region.backups[backup["id"]].ready_at = 0
    shown = osc(sim, "volume", "backup", "show", "cli-backup", cloud=cloud)
    assert (shown["status"], shown["size"], shown["volume_id"]) == ("available", 2, vol["id"])
    rows = osc(sim, "volume", "backup", "list", cloud=cloud)
    assert [(r["Name"], r["Status"]) for r in rows] == [("cli-backup", "available")]
    osc(sim, "volume", "snapshot", "delete", "cli-snap", cloud=cloud, as_json=False)
    osc(sim, "volume", "backup", "delete", "cli-backup", cloud=cloud, as_json=False)
