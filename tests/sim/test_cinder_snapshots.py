"""Cinder volume snapshots in the simulator, through unmodified openstacksdk over HTTP: the
status transitions, ``force`` for in-use volumes, Cinder's errors, quota usage, volumes created
from a snapshot, and Nova booting from one (``source_type=snapshot``)."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions

from tests.sim.conftest import SimHandle

MEMBER = "govcloud-sim-gd-psd"
IMAGE = "cirros-0.6.2-x86_64-disk"
FLAVOR = "gc.c1m2"


@pytest.fixture
def user(sim: SimHandle) -> Any:
    return sim.connect(MEMBER)


def _volume(user: Any, name: str, size: int = 2, **kw: Any) -> Any:
    vol = user.block_storage.create_volume(name=name, size=size, **kw)
    return user.block_storage.wait_for_status(vol, "available", wait=30, interval=0.1)


def test_snapshot_lifecycle_quota_and_errors(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "snap-src", size=3)
    snap = bs.create_snapshot(volume_id=vol.id, name="s1", description="first",
                              metadata={"k": "v"})
    assert snap.status == "creating" and snap.size == 3 and snap.volume_id == vol.id
    snap = bs.wait_for_status(snap, "available", wait=30, interval=0.1)
    shown = bs.get_snapshot(snap.id)
    assert (shown.name, shown.description, shown.metadata) == ("s1", "first", {"k": "v"})
    assert shown.project_id == user.current_project_id and shown.progress == "100%"
    assert [s.id for s in bs.snapshots(volume_id=vol.id)] == [snap.id]
    assert [s.id for s in bs.snapshots(details=False, name="s1")] == [snap.id]
    assert list(bs.snapshots(status="error")) == []
    quota = bs.get_quota_set(user.current_project_id, usage=True)
    assert quota.usage["snapshots"] == 1 and quota.usage["gigabytes"] == 3 + 3
    assert bs.get_limits().absolute.total_snapshots_used == 1
    # a volume with snapshots cannot be deleted (Cinder's 400)
    with pytest.raises(exceptions.BadRequestException, match="have snapshots"):
        bs.delete_volume(vol, ignore_missing=False)
    missing = bs.post("/snapshots", json={"snapshot": {
        "volume_id": "00000000-0000-4000-8000-000000000000"}}, raise_exc=False)
    assert missing.status_code == 404
    assert "Volume 00000000-0000-4000-8000-000000000000 could not be found." in missing.text
    bs.delete_snapshot(snap)
    assert bs.get_snapshot(snap.id).status == "deleting"
    bs.wait_for_delete(snap, interval=0.1, wait=30)
    with pytest.raises(exceptions.NotFoundException, match="could not be found"):
        bs.get_snapshot(snap.id)
    bs.delete_volume(vol, ignore_missing=False)
    quota = bs.get_quota_set(user.current_project_id, usage=True)
    assert quota.usage["snapshots"] == 0 and quota.usage["gigabytes"] == 0


def test_in_use_volume_needs_force_before_3_66(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "snap-busy")
    region = sim.cloud.regions["PROD"]
    with sim.sim.lock:
        region.volumes[vol.id].status = "in-use"
    refused = bs.post("/snapshots", json={"snapshot": {"volume_id": vol.id}},
                      microversion="3.65", raise_exc=False)
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vol.id} status must be available, but current status is: "
        "in-use.")
    forced = bs.create_snapshot(volume_id=vol.id, force=True, name="forced")
    assert forced.status == "creating"
    bad_force = bs.post("/snapshots", json={"snapshot": {"volume_id": vol.id, "force": False}},
                        microversion="3.66", raise_exc=False)
    assert bad_force.status_code == 400 and "'force' flag is invalid" in bad_force.text
    at_366 = bs.post("/snapshots", json={"snapshot": {"volume_id": vol.id}},
                     microversion="3.66", raise_exc=False)
    assert at_366.status_code == 202 and at_366.json()["snapshot"]["consumes_quota"] is True


def test_snapshot_quota_and_delete_only_when_settled(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "snap-quota")
    region = sim.cloud.regions["PROD"]
    with sim.sim.lock:
        region.volume_quotas[user.current_project_id] = {"snapshots": 1}
    first = bs.create_snapshot(volume_id=vol.id)
    over = bs.post("/snapshots", json={"snapshot": {"volume_id": vol.id}}, raise_exc=False)
    assert over.status_code == 413
    assert "Maximum number of snapshots allowed (1) exceeded" in over.text
    early = bs.delete(f"/snapshots/{first.id}", raise_exc=False)  # still creating
    assert early.status_code == 400 and "Snapshot status must be available or error" in \
        early.text
    bs.wait_for_status(first, "available", wait=30, interval=0.1)
    # cascade deletes the volume's snapshots with it
    assert bs.delete(f"/volumes/{vol.id}?cascade=true").status_code == 202
    assert list(bs.snapshots()) == []


def test_volume_from_snapshot_and_admin_actions(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    vol = _volume(user, "snap-origin", size=2, image_id=_image_id(user))
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=vol.id), "available", wait=30,
                              interval=0.1)
    small = bs.post("/volumes", json={"volume": {"snapshot_id": snap.id, "size": 1}},
                    raise_exc=False)
    assert small.status_code == 400 and "cannot be smaller than the snapshot size 2GB" in \
        small.text
    copy = bs.wait_for_status(bs.create_volume(snapshot_id=snap.id, name="copy"),
                              "available", wait=30, interval=0.1)
    assert (copy.size, copy.snapshot_id, copy.is_bootable) == (2, snap.id, True)
    admin = sim.connect("govcloud-sim").block_storage
    admin.reset_snapshot_status(snap, "error")
    assert bs.get_snapshot(snap.id).status == "error"
    refused = bs.post("/volumes", json={"volume": {"snapshot_id": snap.id}}, raise_exc=False)
    assert refused.status_code == 400 and "Originating snapshot status" in refused.text
    forbidden = bs.post(f"/snapshots/{snap.id}/action",
                        json={"os-reset_status": {"status": "available"}}, raise_exc=False)
    assert forbidden.status_code == 403
    nothing = bs.post(f"/snapshots/{snap.id}/action", json={"os-nothing": {}},
                      raise_exc=False)
    assert nothing.status_code == 400 and "There is no such action: os-nothing" in nothing.text


def _image_id(user: Any) -> str:
    return str(user.image.find_image(IMAGE, ignore_missing=False).id)


def test_nova_boots_from_a_volume_snapshot(sim: SimHandle, user: Any) -> None:
    bs = user.block_storage
    origin = _volume(user, "boot-origin", size=1, image_id=_image_id(user))
    snap = bs.wait_for_status(bs.create_snapshot(volume_id=origin.id), "available",
                              wait=30, interval=0.1)
    net = user.network.find_network("gd-psd-net") or next(iter(user.network.networks()))
    flavor = user.compute.find_flavor(FLAVOR, ignore_missing=False)
    server = user.compute.create_server(
        name="from-snap", flavor_id=flavor.id, networks=[{"uuid": net.id}],
        block_device_mapping=[{"boot_index": 0, "uuid": snap.id, "source_type": "snapshot",
                               "destination_type": "volume", "volume_size": 2,
                               "delete_on_termination": True}])
    server = user.compute.wait_for_server(server, wait=30, interval=0.1)
    (attached,) = server.attached_volumes
    vol = bs.get_volume(attached["id"])
    assert (vol.snapshot_id, vol.size, vol.is_bootable, vol.status) == (snap.id, 2, True,
                                                                         "in-use")
    bad = user.compute.post("/servers", json={"server": {
        "name": "x", "flavorRef": flavor.id, "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "source_type": "snapshot",
                                     "destination_type": "volume",
                                     "uuid": "00000000-0000-4000-8000-000000000000"}]}},
        microversion="2.37", raise_exc=False)
    assert bad.status_code == 400 and "failed to get snapshot" in bad.text
    user.compute.delete_server(server)
    user.compute.wait_for_delete(server, wait=30, interval=0.1)
    with pytest.raises(exceptions.NotFoundException):  # deleted on termination
        bs.get_volume(vol.id)


def test_snapshot_of_a_volume_backed_server(sim: SimHandle, user: Any) -> None:
    """Nova's snapshot_volume_backed: a Cinder snapshot per volume (a leftover to clean up
    with the image), an image of no data mapping them, and a boot from that image that makes
    the volumes again from the snapshots."""
    bs = user.block_storage
    flavor = user.compute.find_flavor(FLAVOR, ignore_missing=False)
    server = user.compute.create_server(
        name="vol-backed", flavor_id=flavor.id, networks="none",
        block_device_mapping=[{"boot_index": 0, "uuid": _image_id(user),
                               "source_type": "image", "destination_type": "volume",
                               "volume_size": 2, "delete_on_termination": True}])
    server = user.compute.wait_for_server(server, wait=30, interval=0.1)
    answer = user.compute.post(f"/servers/{server.id}/action",
                               json={"createImage": {"name": "vb-snap"}}, microversion="2.45")
    image = user.image.get_image(answer.json()["image_id"])
    assert image.size == 0 and image.properties["bdm_v2"] == "True"
    (snap,) = bs.snapshots(name="snapshot for vb-snap")
    assert snap.size == 2 and snap.volume_id == server.attached_volumes[0]["id"]
    bs.wait_for_status(snap, "available", wait=30, interval=0.1)  # as a caller must
    again = user.compute.create_server(name="vol-backed-2", flavor_id=flavor.id,
                                       image_id=image.id, networks="none")
    again = user.compute.wait_for_server(again, wait=30, interval=0.1)
    (attached,) = again.attached_volumes
    assert bs.get_volume(attached["id"]).snapshot_id == snap.id
    assert user.compute.get(f"/servers/{again.id}").json()["server"]["image"] == ""
