"""Nova's moves over HTTP with unmodified openstacksdk: resize (confirm, revert), cold and live
migration, shelve/unshelve — states, Placement allocations moving with the server, and the
errors real Nova gives."""

from __future__ import annotations

import time

from tests.sim.nova import raw


def _wait(conn, server_id, status, wait=30.0):
    deadline = time.monotonic() + wait
    while True:
        got = conn.compute.get_server(server_id)
        if got.status == status:
            return got
        assert time.monotonic() < deadline, f"{server_id} still {got.status}, not {status}"
        time.sleep(0.05)


def _flavor(region, name):
    return next(f for f in region.flavors.values() if f.name == name)


def _own_active(sim, region, project="gd-psd", flavor=None):
    pid = sim.cloud.project_by_name(project).id
    return next(s for s in region.servers.values()
                if s.project_id == pid and s.status == "ACTIVE" and not s.locked
                and region.hv_by_host[s.host].service.is_up
                and (flavor is None or s.flavor.name == flavor))


def _allocs(region, consumer):
    """{provider uuid: resources} of a Placement consumer, read from the simulator."""
    c = region.consumers.get(consumer)
    return {} if c is None else {rp: dict(r) for rp, r in c.allocations.items()}


def _rp(region, host):
    return region.hv_by_host[host].provider.uuid


def _placement_allocs(conn, consumer):
    resp = conn.placement.get(f"/allocations/{consumer}", microversion="1.39")
    assert resp.status_code == 200
    return resp.json()


def test_resize_then_confirm_moves_allocations_and_frees_the_source(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    s = _own_active(sim, region, flavor="gc.c2m4")
    source, pid = s.host, s.project_id
    cores_before = region.usage[pid].cores
    new = _flavor(region, "gc.c4m8")
    user.compute.resize_server(s.id, new.id)
    shown = raw(admin, "get", f"/servers/{s.id}").json()["server"]
    assert shown["status"] == "RESIZE" and shown["OS-EXT-STS:task_state"] == "resize_prep"
    got = _wait(user, s.id, "VERIFY_RESIZE")
    assert got.vm_state == "resized" and got.flavor.name == "gc.c4m8"
    dest = region.servers[s.id].host
    assert dest != source  # allow_resize_to_same_host is off, as Nova's default
    # during VERIFY_RESIZE: the migration holds the old flavor on the source, the server
    # the new one on the destination — as Placement shows them
    (mig,) = [m for m in region.migrations.values() if m.instance_uuid == s.id]
    assert mig.migration_type == "resize" and mig.status == "finished"
    assert _allocs(region, mig.uuid) == {_rp(region, source): {
        "VCPU": 2, "MEMORY_MB": 4096, "DISK_GB": 50}}
    assert _allocs(region, s.id) == {_rp(region, dest): {
        "VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 100}}
    held = _placement_allocs(admin, mig.uuid)
    assert held["consumer_type"] == "unknown"  # Nova names no consumer type
    assert held["allocations"][_rp(region, source)]["resources"]["VCPU"] == 2
    assert region.usage[pid].cores == cores_before + 2
    assert s.id in region.hv_by_host[dest].servers
    assert s.id not in region.hv_by_host[source].servers

    # confirm: 204 at once, but Nova confirms asynchronously (a cast to the source compute):
    # the migration is ``confirming`` and the server still VERIFY_RESIZE with no task; a
    # second confirm or a revert meanwhile finds no finished migration
    region.build_delay = 3600.0
    resp = raw(user, "post", f"/servers/{s.id}/action", json={"confirmResize": None})
    assert resp.status_code == 204
    shown = raw(admin, "get", f"/servers/{s.id}").json()["server"]
    assert (shown["status"], shown["OS-EXT-STS:task_state"], shown["OS-EXT-STS:vm_state"]) == (
        "VERIFY_RESIZE", None, "resized")
    assert mig.status == "confirming"
    for action in ("confirmResize", "revertResize"):
        again = raw(user, "post", f"/servers/{s.id}/action", json={action: None})
        assert again.status_code == 400
        assert again.json()["badRequest"]["message"] == "Instance has not been resized."
    # then ACTIVE on the new flavor, the source's allocation gone
    region.build_delay = 0.2
    region.servers[s.id].ready_at = time.time()
    got = _wait(user, s.id, "ACTIVE")
    assert got.flavor.name == "gc.c4m8"
    assert mig.uuid not in region.consumers and mig.status == "confirmed"
    assert _allocs(region, s.id) == {_rp(region, dest): {
        "VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 100}}
    resp = raw(user, "post", f"/servers/{s.id}/action", json={"confirmResize": None})
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == (
        f"Cannot 'confirmResize' instance {s.id} while it is in vm_state active")


def test_resize_revert_returns_to_the_old_flavor_and_host(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    s = _own_active(sim, region, flavor="gc.c2m4")
    source, pid = s.host, s.project_id
    before_alloc = _allocs(region, s.id)
    usage = (region.usage[pid].cores, region.usage[pid].ram)
    used_before = dict(region.hv_by_host[source].provider.used)
    user.compute.resize_server(s.id, _flavor(region, "gc.c4m8").id)
    _wait(user, s.id, "VERIFY_RESIZE")
    dest = region.servers[s.id].host
    dest_used = dict(region.hv_by_host[dest].provider.used)
    user.compute.revert_server_resize(s.id)
    shown = user.compute.get_server(s.id)
    assert shown.status == "REVERT_RESIZE" and shown.task_state == "resize_reverting"
    got = _wait(sim.connect(), s.id, "ACTIVE")
    assert got.flavor.name == "gc.c2m4" and got.compute_host == source
    assert _allocs(region, s.id) == before_alloc
    assert region.hv_by_host[source].provider.used == used_before
    assert region.hv_by_host[dest].provider.used["VCPU"] == dest_used["VCPU"] - 4
    assert (region.usage[pid].cores, region.usage[pid].ram) == usage
    (mig,) = [m for m in region.migrations.values() if m.instance_uuid == s.id]
    assert mig.status == "reverted" and mig.uuid not in region.consumers


def test_resize_errors_are_novas(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    s = _own_active(sim, region)
    same = raw(user, "post", f"/servers/{s.id}/action",
               json={"resize": {"flavorRef": s.flavor.id}})
    assert same.status_code == 400
    assert same.json()["badRequest"]["message"] == (
        "When resizing, instances must change flavor!")
    missing = raw(user, "post", f"/servers/{s.id}/action",
                  json={"resize": {"flavorRef": "no-such-flavor"}})
    assert missing.status_code == 400
    assert missing.json()["badRequest"]["message"] == "Flavor no-such-flavor could not be found."
    user.compute.pause_server(s.id)
    paused = raw(user, "post", f"/servers/{s.id}/action",
                 json={"resize": {"flavorRef": _flavor(region, "gc.c8m16").id}})
    assert paused.status_code == 409
    assert paused.json()["conflictingRequest"]["message"] == (
        f"Cannot 'resize' instance {s.id} while it is in vm_state paused")
    user.compute.unpause_server(s.id)
    # cores beyond the quota: Nova's 403 and message, nothing moved
    pid = s.project_id
    put = raw(sim.connect(), "put", f"/os-quota-sets/{pid}",
              json={"quota_set": {"cores": region.usage[pid].cores}})
    assert put.status_code == 200
    over = raw(user, "post", f"/servers/{s.id}/action",
               json={"resize": {"flavorRef": _flavor(region, "gc.c32m128").id}})
    assert over.status_code == 403
    assert over.json()["forbidden"]["message"].startswith("Quota exceeded for cores")
    assert region.servers[s.id].status == "ACTIVE" and not region.migrations
    not_resized = raw(user, "post", f"/servers/{s.id}/action", json={"revertResize": None})
    assert not_resized.status_code == 409


def test_a_move_off_a_dead_compute_is_refused_as_nova_does(sim):
    region = sim.cloud.regions["PROD"]
    admin = sim.connect()
    s = next(s for s in region.servers.values()
             if s.status == "ACTIVE" and not region.hv_by_host[s.host].service.is_up)
    for body in ({"migrate": None}, {"resize": {"flavorRef": _flavor(region, "gc.c8m16").id}}):
        resp = raw(admin, "post", f"/servers/{s.id}/action", json=body)
        assert resp.status_code == 409
        assert resp.json()["conflictingRequest"]["message"] == (
            "Service is unavailable at this time.")
    assert not region.migrations


def test_cold_migrate_needs_admin_and_a_confirm(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    s = _own_active(sim, region)
    source, flavor = s.host, s.flavor.name
    refused = raw(user, "post", f"/servers/{s.id}/action", json={"migrate": None})
    assert refused.status_code == 403
    assert refused.json()["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:os-migrate-server:migrate to be performed.")
    here = raw(admin, "post", f"/servers/{s.id}/action", json={"migrate": {"host": source}})
    assert here.status_code == 400
    assert here.json()["badRequest"]["message"] == (
        "Cannot migrate to the host where the server exists.")
    nowhere = raw(admin, "post", f"/servers/{s.id}/action",
                  json={"migrate": {"host": "no-such-host"}})
    assert nowhere.status_code == 400
    admin.compute.migrate_server(s.id)
    got = _wait(admin, s.id, "VERIFY_RESIZE")
    assert got.flavor.name == flavor and got.compute_host != source
    (mig,) = [m for m in region.migrations.values() if m.instance_uuid == s.id]
    assert mig.migration_type == "migration" and mig.uuid in region.consumers
    admin.compute.confirm_server_resize(s.id)
    _wait(admin, s.id, "ACTIVE")  # Nova confirms asynchronously
    assert mig.uuid not in region.consumers
    listed = raw(admin, "get", "/os-migrations").json()["migrations"]
    assert [(m["instance_uuid"], m["migration_type"], m["status"], m["source_compute"])
            for m in listed] == [(s.id, "migration", "confirmed", source)]
    assert listed[0]["uuid"] == mig.uuid and listed[0]["dest_compute"] == got.compute_host


def test_live_migrate_moves_an_active_server_and_refuses_a_stopped_one(sim):
    region = sim.cloud.regions["PROD"]
    admin = sim.connect()
    user = sim.connect("govcloud-sim-gd-psd")
    s = _own_active(sim, region)
    source = s.host
    admin.compute.live_migrate_server(s.id, host=None, block_migration="auto")
    shown = admin.compute.get_server(s.id)
    assert shown.status == "MIGRATING" and shown.task_state == "migrating"
    inflight = raw(admin, "get", f"/servers/{s.id}/migrations").json()["migrations"]
    assert len(inflight) == 1 and inflight[0]["status"] == "running"
    got = _wait(admin, s.id, "ACTIVE")
    dest = got.compute_host
    assert dest != source and got.vm_state == "active"
    assert list(_allocs(region, s.id)) == [_rp(region, dest)]
    (mig,) = region.migrations.values()
    assert mig.uuid not in region.consumers
    assert mig.status == "completed" and mig.migration_type == "live-migration"

    user.compute.stop_server(s.id)
    stopped = raw(admin, "post", f"/servers/{s.id}/action",
                  json={"os-migrateLive": {"host": None, "block_migration": "auto"}})
    assert stopped.status_code == 409
    assert stopped.json()["conflictingRequest"]["message"] == (
        f"Cannot 'os-migrateLive' instance {s.id} while it is in vm_state stopped")
    # before 2.34 a host that cannot take it is a 400; from 2.34 the migration fails instead
    user.compute.start_server(s.id)
    self_host = raw(admin, "post", f"/servers/{s.id}/action", mv="2.30",
                    json={"os-migrateLive": {"host": dest, "block_migration": "auto"}})
    assert self_host.status_code == 400
    assert self_host.json()["badRequest"]["message"] == (
        f"Unable to migrate instance ({s.id}) to current host ({dest}).")
    later = raw(admin, "post", f"/servers/{s.id}/action",
                json={"os-migrateLive": {"host": dest, "block_migration": "auto"}})
    assert later.status_code == 202
    got = _wait(admin, s.id, "ACTIVE")
    assert got.compute_host == dest
    assert sorted(m.status for m in region.migrations.values()) == ["completed", "error"]


def test_shelve_offloads_and_unshelve_schedules_again(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    s = _own_active(sim, region)
    source, pid = s.host, s.project_id
    used = region.hv_by_host[source].provider.used["VCPU"]
    user.compute.shelve_server(s.id)
    got = _wait(user, s.id, "SHELVED_OFFLOADED")
    assert got.vm_state == "shelved_offloaded"
    view = raw(admin, "get", f"/servers/{s.id}").json()["server"]
    assert view["OS-EXT-SRV-ATTR:host"] is None
    assert s.id not in region.consumers
    assert region.hv_by_host[source].provider.used["VCPU"] == used - s.flavor.vcpus
    assert s.id not in region.hv_by_host[source].servers
    snapshot = [i for i in region.images.values() if i.name == f"{s.name}-shelved"]
    assert len(snapshot) == 1
    assert region.usage[pid].instances  # a shelved server still counts against quota
    again = raw(user, "post", f"/servers/{s.id}/action", json={"shelve": None})
    assert again.status_code == 409
    assert again.json()["conflictingRequest"]["message"] == (
        f"Cannot 'shelve' instance {s.id} while it is in vm_state shelved_offloaded")

    user.compute.unshelve_server(s.id)
    got = _wait(admin, s.id, "ACTIVE")
    assert got.compute_host
    (rp,) = _allocs(region, s.id)
    assert rp == _rp(region, got.compute_host)
    assert s.id in region.hv_by_host[got.compute_host].servers
    assert not [i for i in region.images.values() if i.name == f"{s.name}-shelved"]
    active = raw(user, "post", f"/servers/{s.id}/action", json={"unshelve": None})
    assert active.status_code == 409


def test_deleting_a_server_waiting_for_confirm_frees_both_allocations(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    s = _own_active(sim, region, flavor="gc.c2m4")
    user.compute.resize_server(s.id, _flavor(region, "gc.c4m8").id)
    _wait(user, s.id, "VERIFY_RESIZE")
    (mig,) = region.migrations.values()
    user.compute.delete_server(s.id)
    assert raw(user, "get", f"/servers/{s.id}").status_code == 404
    assert s.id not in region.consumers and mig.uuid not in region.consumers
    # Nova soft-deletes a deleted server's migrations: os-migrations lists them no more
    listed = raw(sim.connect(), "get", "/os-migrations").json()["migrations"]
    assert s.id not in {m["instance_uuid"] for m in listed}


def test_evacuate_off_a_dead_compute_and_its_cleanup_when_it_returns(sim):
    region = sim.cloud.regions["PROD"]
    admin = sim.connect()
    s = _own_active(sim, region)
    source = s.host
    svc = region.hv_by_host[source].service
    alive = raw(admin, "post", f"/servers/{s.id}/action", json={"evacuate": {}})
    assert alive.status_code == 400
    assert alive.json()["badRequest"]["message"] == (
        f"Compute service of {source} is still in use.")
    down = raw(admin, "put", f"/os-services/{svc.id}", json={"forced_down": True})
    assert down.status_code == 200

    resp = raw(admin, "post", f"/servers/{s.id}/action", json={"evacuate": {}})
    assert resp.status_code == 200
    shown = admin.compute.get_server(s.id)
    assert shown.status == "REBUILD" and shown.task_state == "rebuilding"
    got = _wait(admin, s.id, "SHUTOFF")  # from 2.95 an evacuated server comes back stopped
    dest = got.compute_host
    assert dest != source
    # the dead host's part of the allocation stays until its compute service is back
    assert set(_allocs(region, s.id)) == {_rp(region, source), _rp(region, dest)}
    (mig,) = region.migrations.values()
    assert (mig.migration_type, mig.status) == ("evacuation", "done")
    # Nova will not force it back up until its compute service has restarted and cleaned up
    refused = raw(admin, "put", f"/os-services/{svc.id}", json={"forced_down": False})
    assert refused.status_code == 400
    assert refused.json()["badRequest"]["message"] == (
        f"Unable to force up host {source} as `done` evacuation migration records remain "
        "associated with the host. Ensure the compute service has been restarted, allowing "
        "these records to move to `completed` before retrying this request.")
    assert svc.forced_down
    _control(sim, f"/regions/PROD/computes/{source}/restart")
    assert set(_allocs(region, s.id)) == {_rp(region, dest)}
    assert mig.status == "completed"
    assert s.id not in region.hv_by_host[source].servers
    up = raw(admin, "put", f"/os-services/{svc.id}", json={"forced_down": False})
    assert up.status_code == 200 and not svc.forced_down


def test_a_host_whose_heartbeat_stops_can_be_evacuated(sim):
    region = sim.cloud.regions["PROD"]
    admin = sim.connect()
    s = _own_active(sim, region)
    source = s.host
    _control(sim, f"/regions/PROD/computes/{source}/down")
    services = admin.compute.services(host=source, binary="nova-compute")
    assert [x.state for x in services] == ["down"]
    resp = raw(admin, "post", f"/servers/{s.id}/action", mv="2.94", json={"evacuate": {}})
    assert resp.status_code == 200
    got = _wait(admin, s.id, "ACTIVE")  # before 2.95 it comes back as it was
    assert got.compute_host != source


def _control(sim, path):
    import json
    import urllib.request

    req = urllib.request.Request(f"{sim.base_url}/_sim{path}", method="POST", data=b"{}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_live_migration_off_a_dead_compute_fails_as_the_conductor_fails_it(sim):
    """LiveMigrationTask checks the source is up: a 400 before 2.34, a failed migration
    (the server left where it is) from 2.34."""
    region = sim.cloud.regions["PROD"]
    admin = sim.connect()
    s = next(s for s in region.servers.values()
             if s.status == "ACTIVE" and not region.hv_by_host[s.host].service.is_up)
    source = s.host
    body = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    old = raw(admin, "post", f"/servers/{s.id}/action", mv="2.30", json=body)
    assert old.status_code == 400
    assert old.json()["badRequest"]["message"] == (
        f"Compute service of {source} is unavailable at this time.")
    assert not region.migrations
    new = raw(admin, "post", f"/servers/{s.id}/action", json=body)
    assert new.status_code == 202
    got = _wait(admin, s.id, "ACTIVE")
    assert got.compute_host == source
    (mig,) = region.migrations.values()
    assert (mig.status, mig.migration_type) == ("error", "live-migration")
    assert list(_allocs(region, s.id)) == [_rp(region, source)]


def test_moves_honour_an_anti_affinity_groups_max_server_per_host(sim):
    """ServerGroupAntiAffinityFilter counts the group's members on a host against
    ``max_server_per_host`` (2.64+) for a move as for a boot: two may share, a third not."""
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    admin.compute.update_quota_set(pid, instances=200, cores=1000, ram=10 ** 7,
                                   server_group_members=50)
    flavor_id = _flavor(region, "gc.c1m2").id
    image_id = next(i for i in region.images.values() if i.name.startswith("cirros")).id
    group = raw(user, "post", "/os-server-groups", json={"server_group": {
        "name": "two", "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2}}}).json()["server_group"]
    made = [user.compute.create_server(name=f"two-{i}", flavor_id=flavor_id,
                                       image_id=image_id, networks="none",
                                       scheduler_hints={"group": group["id"]})
            for i in range(3)]
    servers = [_wait(admin, m.id, "ACTIVE") for m in made]
    hosts = [s.compute_host for s in servers]
    target = next(h for h in hosts if hosts.count(h) == 1)
    movers = [s for s in servers if s.compute_host != target]
    assert len(movers) == 2
    body = {"os-migrateLive": {"host": target, "block_migration": "auto"}}
    first = raw(admin, "post", f"/servers/{movers[0].id}/action", mv="2.30", json=body)
    assert first.status_code == 202, first.text
    assert _wait(admin, movers[0].id, "ACTIVE").compute_host == target
    second = raw(admin, "post", f"/servers/{movers[1].id}/action", mv="2.30", json=body)
    assert second.status_code == 400
    assert second.json()["badRequest"]["message"] == (
        "No valid host was found. There are not enough hosts available.")
    assert admin.compute.get_server(movers[1].id).compute_host != target
