"""The disaster-recovery adapter (govcloud/cloud/dr.py) against the simulator over real HTTP,
end to end: a server snapshot copied to another region's Glance and booted there on an isolated
network with the guest's files; volume snapshots, backups exported from one region, imported
into another and restored; the leftover check before and after teardown; and the error paths
(a snapshot of a volume that does not exist, the restore of a backup in ERROR, a wait that
times out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from openstack import exceptions as sdk_exc

from govcloud.cloud import dr
from govcloud.cloud import provision as cloud
from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.errors import NotFound, PermanentError, TemporaryError
from govcloud.sim.server import RunningSimulator

SITES = {s.name: s for s in default_sites()}
IMAGE = "cirros-0.6.2-x86_64-disk"
FLAVOR = "gc.c1m2"
WAIT = 30.0
TICK = 0.1


def _project_conns(clouds: Path, *sites: str) -> dict[str, Any]:
    out = {}
    for name in sites:
        admin = connect(SITES[name], clouds_yaml=clouds)
        identity: Any = admin.identity
        project = next(p for p in identity.projects() if p.name == "gd-psd")
        out[name] = cloud.project_connection(admin, name, project.id)
    return out


def test_server_snapshot_crosses_regions_and_boots_isolated_with_its_files(
        sim: tuple[RunningSimulator, Path], tmp_path: Path) -> None:
    running, clouds = sim
    roots = [tmp_path / "prod-box", tmp_path / "dr-box"]
    for root in roots:
        root.mkdir()
    httpx.post(f"{running.base_url}/_sim/sandboxes", timeout=10, json={"sandboxes": [
        {"address": "127.0.0.1", "port": 41000 + i, "root": str(r)}
        for i, r in enumerate(roots)]}).raise_for_status()
    conns = _project_conns(clouds, "PROD", "DR-REMOTE")
    prod, remote = conns["PROD"], conns["DR-REMOTE"]
    refs = cloud.resolve(prod, "PROD", flavor=FLAVOR, image=IMAGE, network="prod-net")
    source = dr.boot_server(prod, "PROD", name="app-1", flavor=FLAVOR,
                            network_id=refs.network_id, image_id=refs.image_id)
    dr.wait_server(prod, "PROD", source, timeout_s=WAIT, interval_s=TICK)
    (roots[0] / "var" / "lib" / "app").mkdir(parents=True)
    (roots[0] / "var" / "lib" / "app" / "ledger.db").write_bytes(b"\x00ledger v42")
    image = dr.snapshot_server(prod, "PROD", source, "drill-7-app-1", timeout_s=WAIT,
                               interval_s=TICK)
    tag = "drill-7"
    copy = dr.copy_image(prod, "PROD", image, remote, "DR-REMOTE", timeout_s=WAIT,
                         interval_s=TICK, tags=[tag])
    assert copy != image  # separate Glances: a copy was made
    assert dr.copy_image(prod, "PROD", image, remote, "DR-REMOTE", timeout_s=WAIT,
                         interval_s=TICK) == copy  # found again, not copied twice
    assert dr.copy_image(prod, "PROD", image, prod, "PROD", timeout_s=WAIT) == image
    net = dr.create_isolated_network(remote, "DR-REMOTE", "drill-7-net", tags=[tag])
    assert dr.isolation_problems(remote, "DR-REMOTE", net.network_id) == []
    assert dr.create_isolated_network(remote, "DR-REMOTE", "drill-7-net") == net  # reused
    booted = dr.boot_server(remote, "DR-REMOTE", name="drill-7-app-1", flavor=FLAVOR,
                            network_id=net.network_id, image_id=copy, tags=[tag])
    dr.wait_server(remote, "DR-REMOTE", booted, timeout_s=WAIT, interval_s=TICK)
    assert (roots[1] / "var" / "lib" / "app" / "ledger.db").read_bytes() == b"\x00ledger v42"
    found = {(x.kind, x.id) for x in dr.leftovers(remote, "DR-REMOTE", tag=tag)}
    assert {("server", booted), ("network", net.network_id), ("subnet", net.subnet_id),
            ("image", copy)} <= found
    assert any(kind == "port" for kind, _ in found)
    # its subnet has no gateway, so no router joins it by subnet (Neutron's 400) ...
    router: Any = remote.network.create_router(name="drill-7-leak")
    with pytest.raises(sdk_exc.BadRequestException, match="must have a gateway IP"):
        remote.network.add_interface_to_router(router, subnet_id=net.subnet_id)
    # ... and one joined through a port breaks the isolation, which the check says
    port: Any = remote.network.create_port(network_id=net.network_id, name="drill-7-leak")
    remote.network.add_interface_to_router(router, port_id=port.id)
    assert any("router" in p for p in dr.isolation_problems(remote, "DR-REMOTE",
                                                            net.network_id))
    assert ("router", router.id) in {(x.kind, x.id) for x in
                                     dr.leftovers(remote, "DR-REMOTE", prefix="drill-7")}
    remote.network.remove_interface_from_router(router, port_id=port.id)
    remote.network.delete_router(router)
    # teardown, then nothing is left
    dr.delete_server(remote, "DR-REMOTE", booted, timeout_s=WAIT, interval_s=TICK)
    dr.delete_isolated_network(remote, "DR-REMOTE", net.network_id)
    dr.delete_image(remote, "DR-REMOTE", copy)
    dr.delete_image(prod, "PROD", image)
    assert dr.leftovers(remote, "DR-REMOTE", tag=tag, prefix="drill-7") == []
    assert dr.leftovers(prod, "PROD", prefix="drill-7") == []


def test_volume_snapshot_and_backup_restored_in_another_region(
        sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    conns = _project_conns(clouds, "PROD", "DR-LOCAL")
    prod, local = conns["PROD"], conns["DR-LOCAL"]
    tag = "drill-8"
    vol = dr.create_volume(prod, "PROD", "app-data", size=2, tag=tag)
    dr.wait_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    snap = dr.create_volume_snapshot(prod, "PROD", vol, "drill-8-snap", tag=tag)
    dr.wait_volume_snapshot(prod, "PROD", snap, timeout_s=WAIT, interval_s=TICK)
    from_snap = dr.create_volume(prod, "PROD", "drill-8-vol", snapshot_id=snap, tag=tag)
    dr.wait_volume(prod, "PROD", from_snap, timeout_s=WAIT, interval_s=TICK)
    backup = dr.create_backup(prod, "PROD", vol, "drill-8-backup", tag=tag)
    dr.wait_backup(prod, "PROD", backup, timeout_s=WAIT, interval_s=TICK)
    record = dr.export_backup(prod, "PROD", backup)
    assert record.backup_id == backup
    imported = dr.import_backup(local, "DR-LOCAL", record)
    assert imported == backup and dr.import_backup(local, "DR-LOCAL", record) == backup
    dr.wait_backup(local, "DR-LOCAL", imported, timeout_s=WAIT, interval_s=TICK)
    restored = dr.restore_backup(local, "DR-LOCAL", imported, name="drill-8-restored",
                                 tag=tag, timeout_s=WAIT, interval_s=TICK)
    net = dr.create_isolated_network(local, "DR-LOCAL", "drill-8-net", tags=[tag])
    server = dr.boot_server(local, "DR-LOCAL", name="drill-8-app", flavor=FLAVOR,
                            network_id=net.network_id, volume_id=restored, tags=[tag])
    dr.wait_server(local, "DR-LOCAL", server, timeout_s=WAIT, interval_s=TICK)
    kinds = {x.kind for x in dr.leftovers(local, "DR-LOCAL", tag=tag)}
    assert {"server", "volume", "backup", "network", "subnet", "port"} <= kinds
    assert {x.kind for x in dr.leftovers(prod, "PROD", tag=tag)} == {
        "volume", "volume-snapshot", "backup"}
    # teardown: the server takes its volume with it (delete on termination)
    dr.delete_server(local, "DR-LOCAL", server, timeout_s=WAIT, interval_s=TICK)
    dr.delete_isolated_network(local, "DR-LOCAL", net.network_id)
    dr.delete_backup(local, "DR-LOCAL", imported, timeout_s=WAIT, interval_s=TICK)
    dr.delete_backup(prod, "PROD", backup, timeout_s=WAIT, interval_s=TICK)
    dr.delete_volume(prod, "PROD", from_snap, timeout_s=WAIT, interval_s=TICK)
    dr.delete_volume_snapshot(prod, "PROD", snap, timeout_s=WAIT, interval_s=TICK)
    dr.delete_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    assert dr.leftovers(local, "DR-LOCAL", tag=tag) == []
    assert dr.leftovers(prod, "PROD", tag=tag) == []


def test_errors_name_the_site_and_give_a_hint(sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    prod = _project_conns(clouds, "PROD")["PROD"]
    with pytest.raises(NotFound) as missing:
        dr.create_volume_snapshot(prod, "PROD", "00000000-0000-4000-8000-000000000000", "x")
    assert "site PROD" in missing.value.message and "could not be found" in \
        missing.value.message
    assert missing.value.hint and "volume must exist" in missing.value.hint
    vol = dr.create_volume(prod, "PROD", "err-vol", size=1)
    dr.wait_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    backup = dr.create_backup(prod, "PROD", vol, "err-backup")
    with pytest.raises(TemporaryError) as slow:  # still creating: the bounded wait gives up
        dr.wait_backup(prod, "PROD", backup, timeout_s=0, interval_s=TICK)
    assert "still creating after 0 s" in slow.value.message and slow.value.hint
    dr.wait_backup(prod, "PROD", backup, timeout_s=WAIT, interval_s=TICK)
    prod.block_storage.reset_backup_status(backup, "error")
    with pytest.raises(PermanentError) as broken:
        dr.restore_backup(prod, "PROD", backup, name="never", timeout_s=WAIT)
    assert "is error, not available" in broken.value.message
    assert broken.value.hint and "make a new one" in broken.value.hint
    with pytest.raises(PermanentError) as failed_wait:
        dr.wait_backup(prod, "PROD", backup, timeout_s=WAIT, interval_s=TICK)
    assert "backup" in failed_wait.value.message and failed_wait.value.hint
    with pytest.raises(PermanentError, match="not neither"):
        dr.boot_server(prod, "PROD", name="x", flavor=FLAVOR, network_id="n")
    with pytest.raises(NotFound, match="unknown flavor"):
        dr.boot_server(prod, "PROD", name="x", flavor="no-such", network_id="n",
                       image_id="i")
    with pytest.raises(PermanentError, match="prefix or a tag"):
        dr.leftovers(prod, "PROD")


def test_power_brings_copies_up_and_the_primary_down(sim: tuple[RunningSimulator, Path]) -> None:
    running, clouds = sim
    prod = _project_conns(clouds, "PROD")["PROD"]
    refs = cloud.resolve(prod, "PROD", flavor=FLAVOR, image=IMAGE, network="prod-net")
    copy = dr.boot_server(prod, "PROD", name="cold-copy", flavor=FLAVOR,
                          network_id=refs.network_id, image_id=refs.image_id)
    dr.wait_server(prod, "PROD", copy, timeout_s=WAIT, interval_s=TICK)
    cloud.shelve_offloaded(prod, "PROD", copy, timeout_s=WAIT, interval_s=TICK)
    with pytest.raises(PermanentError, match="is SHELVED_OFFLOADED, not ACTIVE"):
        dr.power(prod, "PROD", copy, "stop", timeout_s=WAIT, interval_s=TICK)
    region = running.sim.cloud.regions["PROD"]
    with running.sim.lock:  # every compute host dead: no host can take it back
        for hv in region.hv_by_host.values():
            hv.service.state = "down"
    with pytest.raises(PermanentError, match="unshelve ended with the server SHELVED_OFF") \
            as no_host:
        dr.power(prod, "PROD", copy, "unshelve", timeout_s=WAIT, interval_s=TICK)
    assert no_host.value.hint and "capacity" in no_host.value.hint
    with running.sim.lock:
        for hv in region.hv_by_host.values():
            hv.service.state = "up"
    dr.power(prod, "PROD", copy, "unshelve", timeout_s=WAIT, interval_s=TICK)
    assert prod.compute.get_server(copy).status == "ACTIVE"
    dr.power(prod, "PROD", copy, "unshelve", timeout_s=WAIT, interval_s=TICK)  # no-op
    dr.power(prod, "PROD", copy, "stop", timeout_s=WAIT, interval_s=TICK)
    assert prod.compute.get_server(copy).status == "SHUTOFF"
    dr.power(prod, "PROD", copy, "stop", timeout_s=WAIT, interval_s=TICK)  # no-op
    dr.power(prod, "PROD", copy, "start", timeout_s=WAIT, interval_s=TICK)
    assert prod.compute.get_server(copy).status == "ACTIVE"
    dr.delete_server(prod, "PROD", copy, timeout_s=WAIT, interval_s=TICK)
    with pytest.raises(NotFound):
        dr.power(prod, "PROD", copy, "start", timeout_s=WAIT, interval_s=TICK)


def test_a_volume_backed_snapshot_stays_in_its_region(sim: tuple[RunningSimulator, Path]) -> None:
    _, clouds = sim
    conns = _project_conns(clouds, "PROD", "DR-LOCAL")
    prod = conns["PROD"]
    vol = dr.create_volume(prod, "PROD", "vb-root", size=1, tag="drill-9")
    dr.wait_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    net = cloud.resolve(prod, "PROD", flavor=FLAVOR, image=IMAGE, network="prod-net")
    server = dr.boot_server(prod, "PROD", name="vb", flavor=FLAVOR,
                            network_id=net.network_id, volume_id=vol,
                            delete_volume_on_termination=False)
    dr.wait_server(prod, "PROD", server, timeout_s=WAIT, interval_s=TICK)
    image = dr.snapshot_server(prod, "PROD", server, "drill-9-vb", timeout_s=WAIT,
                               interval_s=TICK)
    (snap,) = dr.volume_snapshots_of(prod, "PROD", image)
    assert prod.block_storage.get_snapshot(snap).status == "available"  # waited for
    with pytest.raises(PermanentError, match="volume-backed") as refused:
        dr.copy_image(prod, "PROD", image, conns["DR-LOCAL"], "DR-LOCAL", timeout_s=WAIT)
    assert refused.value.hint and "backups" in refused.value.hint
    # deleting the image leaves its volume snapshot behind, as in OpenStack: the leftover
    # check finds it by its name
    dr.delete_image(prod, "PROD", image)
    assert [x.kind for x in dr.leftovers(prod, "PROD", prefix="snapshot for drill-9")] == [
        "volume-snapshot"]
    dr.delete_volume_snapshot(prod, "PROD", snap, timeout_s=WAIT, interval_s=TICK)
    dr.delete_server(prod, "PROD", server, timeout_s=WAIT, interval_s=TICK)
    dr.delete_volume(prod, "PROD", vol, timeout_s=WAIT, interval_s=TICK)
    assert dr.leftovers(prod, "PROD", tag="drill-9", prefix="drill-9") == []
