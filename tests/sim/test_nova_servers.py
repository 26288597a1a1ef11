"""Nova servers over HTTP with unmodified openstacksdk: paging, filters, views per
microversion, create/scheduling/quota/ERROR, actions, metadata, tags."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from openstack import exceptions

from tests.sim.nova import raw

NO_HOST = "No valid host was found. There are not enough hosts available."


def ids(region, name):
    """(flavor id, image id, network id) for a flavor name in a region."""
    flavor = next(f for f in region.flavors.values() if f.name == name)
    image = next(i for i in region.images.values() if i.name.startswith("cirros"))
    net = next(iter(region.networks.values()))
    return flavor.id, image.id, net.id


def test_list_all_servers_pages_through_every_server_newest_first(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    servers = list(conn.compute.servers(details=True, all_projects=True, limit=7))
    assert len(servers) == len(region.servers)
    assert len({s.id for s in servers}) == len(servers)
    created = [s.created_at for s in servers]
    assert created == sorted(created, reverse=True)
    # the raw pages: next links while pages are full, the marker is the last id
    first = raw(conn, "get", "/servers/detail?all_tenants=1&limit=7").json()
    assert len(first["servers"]) == 7
    (link,) = first["servers_links"]
    assert link["rel"] == "next" and f"marker={first['servers'][-1]['id']}" in link["href"]
    assert "all_tenants=1" in link["href"]


def test_bad_marker_and_limit_get_novas_400(sim):
    conn = sim.connect()
    resp = raw(conn, "get", "/servers/detail?marker=no-such-server")
    assert resp.status_code == 400
    assert resp.json() == {"badRequest": {"code": 400,
                                          "message": "marker [no-such-server] not found"}}
    resp = raw(conn, "get", "/servers?limit=-1")
    assert resp.status_code == 400
    assert "badRequest" in resp.json()


def test_non_admin_all_tenants_is_forbidden_and_sees_only_own_project(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    resp = raw(user, "get", "/servers/detail?all_tenants=True")
    assert resp.status_code == 403
    assert resp.json()["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed.")
    with pytest.raises(exceptions.ForbiddenException):
        list(user.compute.servers(all_projects=True))
    mine = list(user.compute.servers())
    pid = sim.cloud.project_by_name("gd-psd").id
    expected = [s for s in sim.cloud.regions["PROD"].servers.values() if s.project_id == pid]
    assert {s.id for s in mine} == {s.id for s in expected}
    # non-admins do not get the admin-only extended attributes
    view = raw(user, "get", f"/servers/{mine[0].id}").json()["server"]
    assert "OS-EXT-SRV-ATTR:host" not in view and "host_status" not in view
    assert view["OS-EXT-SRV-ATTR:hostname"]  # shown to everyone from 2.90


def test_filters_status_name_host_project_and_changes_since(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    errors = list(conn.compute.servers(all_projects=True, status="ERROR"))
    assert {s.id for s in errors} == {s.id for s in region.servers.values()
                                      if s.status == "ERROR"}
    host = next(s.host for s in region.servers.values() if s.host)
    on_host = list(conn.compute.servers(all_projects=True, compute_host=host))
    assert on_host and all(s.compute_host == host for s in on_host)
    assert len(on_host) == sum(1 for s in region.servers.values() if s.host == host)
    named = list(conn.compute.servers(all_projects=True, name="^gd-psd-app"))
    assert named and all(s.name.startswith("gd-psd-app") for s in named)
    pid = sim.cloud.project_by_name("gd-tax").id
    tax = list(conn.compute.servers(all_projects=True, project_id=pid))
    assert tax and all(s.project_id == pid for s in tax)
    assert list(conn.compute.servers(all_projects=True, status="NOT_A_STATUS")) == []

    victim = next(s for s in region.servers.values() if s.status == "ACTIVE")
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)).isoformat()
    conn.compute.delete_server(victim.id)
    changed = list(conn.compute.servers(all_projects=True, changes_since=since))
    assert [(s.id, s.status) for s in changed] == [(victim.id, "DELETED")]
    assert conn.compute.find_server(victim.id, ignore_missing=True) is None


def test_views_follow_the_microversion(sim):
    conn = sim.connect()
    sid = next(iter(sim.cloud.regions["PROD"].servers))
    old = raw(conn, "get", f"/servers/{sid}", mv="2.1").json()["server"]
    assert set(old["flavor"]) == {"id", "links"}
    for key in ("locked", "tags", "description", "pinned_availability_zone",
                "OS-EXT-SRV-ATTR:hostname", "host_status"):
        assert key not in old
    new = raw(conn, "get", f"/servers/{sid}", mv="2.96").json()["server"]
    assert set(new["flavor"]) == {"vcpus", "ram", "disk", "ephemeral", "swap",
                                  "original_name", "extra_specs"}
    for key in ("locked", "locked_reason", "tags", "description", "trusted_image_certificates",
                "server_groups", "pinned_availability_zone", "OS-EXT-SRV-ATTR:hostname",
                "OS-EXT-SRV-ATTR:reservation_id", "host_status", "OS-EXT-STS:vm_state",
                "os-extended-volumes:volumes_attached", "OS-SRV-USG:launched_at"):
        assert key in new
    assert len(new["hostId"]) == 56
    # the list view does not carry server_groups (show only)
    listed = raw(conn, "get", "/servers/detail?all_tenants=1&limit=1").json()["servers"][0]
    assert "server_groups" not in listed and "pinned_availability_zone" in listed


def test_create_wait_and_delete_keeps_accounting_consistent(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    flavor_id, image_id, net_id = ids(region, "gc.c2m4")
    pid = sim.cloud.project_by_name("gd-psd").id
    before = (region.usage[pid].instances, region.usage[pid].cores)
    region.build_delay = 3600.0  # BUILD is seen however slow the machine, then let go
    server = user.compute.create_server(
        name="made-by-test", flavor_id=flavor_id, image_id=image_id,
        networks=[{"uuid": net_id}], metadata={"role": "web"}, tags=["blue"])
    assert server.admin_password
    fresh = user.compute.get_server(server.id)
    assert fresh.status == "BUILD"
    region.servers[server.id].ready_at = time.time()
    server = user.compute.wait_for_server(server, interval=0.1, wait=30)
    assert server.status == "ACTIVE" and server.power_state == 1
    assert server.metadata == {"role": "web"} and server.tags == ["blue"]
    (addr,) = server.addresses[region.networks[net_id].name]
    assert addr["OS-EXT-IPS:type"] == "fixed"
    assert (region.usage[pid].instances, region.usage[pid].cores) == (before[0] + 1,
                                                                       before[1] + 2)
    consumer = region.consumers[server.id]
    (allocs,) = consumer.allocations.values()
    assert allocs["VCPU"] == 2 and allocs["MEMORY_MB"] == 4096
    port_ids = list(region.servers[server.id].port_ids)
    assert port_ids and all(p in region.ports for p in port_ids)

    user.compute.delete_server(server)
    user.compute.wait_for_delete(server, interval=0.1, wait=30)
    assert (region.usage[pid].instances, region.usage[pid].cores) == before
    assert server.id not in region.consumers
    assert not any(p in region.ports for p in port_ids)


def test_server_with_no_host_goes_to_error_with_novas_fault(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    _, image_id, _ = ids(region, "gc.c1m2")
    admin.compute.update_quota_set(admin.current_project_id, ram=-1, cores=-1)
    huge = admin.compute.create_flavor(name="too-big", ram=4 * 1024 * 1024, vcpus=8, disk=10)
    server = admin.compute.create_server(name="wont-fit", flavor_id=huge.id,
                                         image_id=image_id, networks="none")
    shown = admin.compute.get_server(server.id)
    assert shown.status == "ERROR"
    assert shown.fault["code"] == 500 and shown.fault["message"] == NO_HOST
    assert shown.compute_host is None and server.id not in region.consumers
    admin.compute.delete_server(server)


def test_anti_affinity_group_spreads_and_fails_when_hosts_run_out(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    admin.compute.update_quota_set(pid, instances=200, cores=1000, ram=10 ** 7,
                                   server_group_members=50)
    usable = [h for h in region.hypervisors.values()
              if h.service.is_up and h.service.status == "enabled"]
    group = user.compute.create_server_group(name="spread", policy="anti-affinity")
    flavor_id, image_id, _ = ids(region, "gc.c1m2")
    made = [user.compute.create_server(name=f"aa-{i}", flavor_id=flavor_id, image_id=image_id,
                                       networks="none", scheduler_hints={"group": group.id})
            for i in range(len(usable) + 1)]
    shown = [admin.compute.get_server(s.id) for s in made]
    hosts = [s.compute_host for s in shown[:-1]]
    assert len(set(hosts)) == len(usable)
    assert shown[-1].status == "ERROR" and shown[-1].fault["message"] == NO_HOST
    members = user.compute.get_server_group(group.id).member_ids
    assert set(members) == {s.id for s in made}


def test_quota_exceeded_is_403_with_novas_message(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    used = region.usage[pid]
    admin.compute.update_quota_set(pid, cores=used.cores + 1)
    flavor_id, image_id, net_id = ids(region, "gc.c4m8")
    resp = raw(user, "post", "/servers", json={"server": {
        "name": "over", "flavorRef": flavor_id, "imageRef": image_id, "networks": "auto"}})
    assert resp.status_code == 403
    quota = region.compute_quota(pid)
    assert resp.json()["forbidden"]["message"] == (
        f"Quota exceeded for cores: Requested 4, but already used {used.cores} of "
        f"{quota['cores']} cores")


@pytest.mark.parametrize("body, status, message", [
    ({"server": {"name": "x", "flavorRef": "nope", "imageRef": "", "networks": "none"}},
     400, "Flavor nope could not be found."),
    ({"server": {"name": "x", "flavorRef": "FLAVOR", "imageRef": "IMAGE"}},
     400, "'networks' is a required property"),
    ({"server": {"name": "x", "flavorRef": "FLAVOR", "imageRef": "IMAGE",
                 "networks": [{"uuid": "3f8c9d5e-0000-4000-8000-000000000000"}]}},
     400, "Network 3f8c9d5e-0000-4000-8000-000000000000 could not be found."),
    ({"server": {"name": "x", "flavorRef": "FLAVOR",
                 "imageRef": "3f8c9d5e-0000-4000-8000-000000000000", "networks": "none"}},
     400, "Image 3f8c9d5e-0000-4000-8000-000000000000 could not be found."),
    ({"server": {"name": "x", "flavorRef": "FLAVOR", "imageRef": "IMAGE",
                 "networks": "none", "key_name": "missing"}},
     400, "Invalid key_name provided."),
    ({"server": {"name": "x", "flavorRef": "FLAVOR", "imageRef": "IMAGE",
                 "networks": "none", "availability_zone": "mars"}},
     400, "The requested availability zone is not available"),
    ({"server": {"name": "x", "flavorRef": "FLAVOR", "imageRef": "IMAGE",
                 "networks": "none", "colour": "red"}},
     400, "Additional properties are not allowed ('colour' was unexpected)"),
    ({"nothing": {}}, 400, "Additional properties are not allowed ('nothing' was unexpected)"),
])
def test_bad_create_bodies_get_novas_400s(sim, body, status, message):
    user = sim.connect("govcloud-sim-gd-psd")
    flavor_id, image_id, _ = ids(sim.cloud.regions["PROD"], "gc.c1m2")
    server = body.get("server", {})
    for key, value in list(server.items()):
        if isinstance(value, str):
            server[key] = {"FLAVOR": flavor_id, "IMAGE": image_id}.get(value, value)
    before = len(sim.cloud.regions["PROD"].servers)
    resp = raw(user, "post", "/servers", json=body)
    assert resp.status_code == status
    (kind, detail), = resp.json().items()
    assert kind == "badRequest" and message in detail["message"]
    assert len(sim.cloud.regions["PROD"].servers) == before
    # the simulator keeps serving
    assert raw(user, "get", "/servers?limit=1").status_code == 200


def test_malformed_json_is_a_400_and_the_server_keeps_serving(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    resp = user.compute.post("/servers", data=b"{not json", microversion="2.96",
                             raise_exc=False, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "badRequest" in resp.json()
    assert raw(user, "get", "/flavors").status_code == 200


def test_stop_start_reboot_lock_and_state_conflicts(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    pid = sim.cloud.project_by_name("gd-psd").id
    server = next(s for s in region.servers.values()
                  if s.project_id == pid and s.status == "ACTIVE")
    user.compute.stop_server(server.id)
    assert user.compute.get_server(server.id).status == "SHUTOFF"
    resp = raw(user, "post", f"/servers/{server.id}/action", json={"os-stop": None})
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == (
        f"Cannot 'stop' instance {server.id} while it is in vm_state stopped")
    user.compute.start_server(server.id)
    user.compute.reboot_server(server.id, "HARD")
    assert user.compute.get_server(server.id).status == "HARD_REBOOT"
    got = user.compute.wait_for_server(user.compute.get_server(server.id), interval=0.1,
                                       wait=30)
    assert got.status == "ACTIVE"

    admin.compute.lock_server(server.id, locked_reason="change freeze")
    shown = user.compute.get_server(server.id)
    assert shown.is_locked and shown.locked_reason == "change freeze"
    resp = raw(user, "delete", f"/servers/{server.id}")
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == f"Instance {server.id} is locked"
    resp = raw(user, "post", f"/servers/{server.id}/action", json={"unlock": None})
    assert resp.status_code == 403
    admin.compute.unlock_server(server.id)
    resp = raw(user, "post", f"/servers/{server.id}/action", json={"explode": {}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "There is no such action: explode"


def test_metadata_and_tags_round_trip(sim):
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    pid = sim.cloud.project_by_name("gd-psd").id
    sid = next(s.id for s in region.servers.values()
               if s.project_id == pid and s.status == "ACTIVE")
    server = user.compute.get_server(sid)
    user.compute.set_server_metadata(server, owner="ops", tier="1")
    assert user.compute.get_server_metadata(server).metadata["owner"] == "ops"
    user.compute.delete_server_metadata(server, ["tier"])
    assert "tier" not in user.compute.get_server_metadata(server).metadata
    resp = raw(user, "get", f"/servers/{sid}/metadata/nope")
    assert resp.status_code == 404

    assert raw(user, "put", f"/servers/{sid}/tags/gold").status_code == 201
    assert raw(user, "put", f"/servers/{sid}/tags/gold").status_code == 204
    assert raw(user, "get", f"/servers/{sid}/tags/gold").status_code == 204
    tags = raw(user, "get", f"/servers/{sid}/tags").json()["tags"]
    assert "gold" in tags
    tagged = list(user.compute.servers(tags="gold"))
    assert [s.id for s in tagged] == [sid]
    assert raw(user, "get", f"/servers/{sid}/tags", mv="2.25").status_code == 404
    assert raw(user, "delete", f"/servers/{sid}/tags/gold").status_code == 204
    assert raw(user, "delete", f"/servers/{sid}/tags/gold").status_code == 404


def test_update_name_and_description(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    sid = next(s.id for s in region.servers.values() if s.project_id == pid)
    updated = user.compute.update_server(sid, name="renamed", description="for the test")
    assert updated.name == "renamed" and updated.description == "for the test"
    assert region.servers[sid].name == "renamed"


def test_other_projects_server_is_not_found(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    pid = sim.cloud.project_by_name("gd-psd").id
    other = next(s for s in sim.cloud.regions["PROD"].servers.values() if s.project_id != pid)
    resp = raw(user, "get", f"/servers/{other.id}")
    assert resp.status_code == 404
    assert resp.json() == {"itemNotFound": {"code": 404, "message":
                                            f"Instance {other.id} could not be found."}}


def test_build_turns_active_after_the_build_delay(sim):
    """BUILD until ``build_delay`` has passed, then ACTIVE with ``launched_at`` then. The delay
    is an hour, so BUILD is seen however slow the machine; the hour then passes by moving the
    server's ready time to now instead of by sleeping."""
    region = sim.cloud.regions["DR-LOCAL"]
    region.build_delay = 3600.0
    user = sim.connect("govcloud-sim-gd-psd", region="DR-LOCAL")
    flavor_id, image_id, _ = ids(region, "gc.c1m2")
    t0 = time.time()
    server = user.compute.create_server(name="slow", flavor_id=flavor_id, image_id=image_id,
                                        networks="auto")
    assert user.compute.get_server(server.id).status == "BUILD"
    built = region.servers[server.id]
    assert t0 + 3600.0 <= built.ready_at <= time.time() + 3600.0
    assert user.compute.get_server(server.id).status == "BUILD"
    built.ready_at = time.time()  # the hour is over
    shown = user.compute.get_server(server.id)
    assert shown.status == "ACTIVE"
    assert shown.launched_at and shown.launched_at.startswith(
        dt.datetime.fromtimestamp(built.ready_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))


def test_listing_matches_show_and_reflects_every_change(sim):
    """The admin detail listing is served from rendered views; they must track changes."""
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]

    def listed(sid):
        pages = raw(admin, "get", "/servers/detail?all_tenants=1").json()["servers"]
        return next(v for v in pages if v["id"] == sid)

    server = next(s for s in region.servers.values() if s.status == "ACTIVE")
    shown = raw(admin, "get", f"/servers/{server.id}").json()["server"]
    shown.pop("server_groups")
    assert listed(server.id) == shown

    admin.compute.update_server(server.id, name="renamed-in-place")
    admin.compute.set_server_metadata(server.id, note="x")
    admin.compute.stop_server(server.id)
    view = listed(server.id)
    assert view["name"] == "renamed-in-place" and view["metadata"]["note"] == "x"
    assert view["status"] == "SHUTOFF" and view["OS-EXT-STS:power_state"] == 4
    assert view["host_status"] == "UP"
    svc = region.hv_by_host[server.host].service
    raw(admin, "put", f"/os-services/{svc.id}", json={"forced_down": True})
    assert listed(server.id)["host_status"] == "DOWN"
    raw(admin, "put", f"/os-services/{svc.id}", json={"forced_down": False})
    raw(admin, "put", f"/os-services/{svc.id}", json={"status": "disabled"})
    assert listed(server.id)["host_status"] == "MAINTENANCE"


def test_group_rules_and_soft_policies(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name("gd-psd").id
    admin.compute.update_quota_set(pid, instances=200, cores=1000, ram=10 ** 7,
                                   server_group_members=50)
    flavor_id, image_id, _ = ids(region, "gc.c1m2")

    def boot(group_id, n):
        made = [user.compute.create_server(name=f"g-{i}", flavor_id=flavor_id,
                                           image_id=image_id, networks="none",
                                           scheduler_hints={"group": group_id})
                for i in range(n)]
        return [admin.compute.get_server(s.id).compute_host for s in made]

    two_per_host = raw(user, "post", "/os-server-groups", json={"server_group": {
        "name": "two", "policy": "anti-affinity",
        "rules": {"max_server_per_host": 2}}}).json()["server_group"]
    hosts = boot(two_per_host["id"], 4)
    assert all(hosts.count(h) <= 2 for h in hosts) and None not in hosts
    packed = user.compute.create_server_group(name="pack", policy="soft-affinity")
    hosts = boot(packed.id, 3)
    assert len(set(hosts)) == 1
    spread = user.compute.create_server_group(name="spread", policy="soft-anti-affinity")
    usable = sum(1 for h in region.hypervisors.values()
                 if h.service.is_up and h.service.status == "enabled")
    hosts = boot(spread.id, usable + 1)
    assert None not in hosts  # soft: never fails for the policy's sake
    assert len(set(hosts)) == usable


def test_multi_create_and_reservation_id(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    region = sim.cloud.regions["PROD"]
    flavor_id, image_id, _ = ids(region, "gc.c1m2")
    resp = raw(user, "post", "/servers", json={"server": {
        "name": "batch", "flavorRef": flavor_id, "imageRef": image_id, "networks": "none",
        "min_count": 2, "max_count": 3, "return_reservation_id": True}})
    assert resp.status_code == 202
    rid = resp.json()["reservation_id"]
    assert rid.startswith("r-")
    admin = sim.connect()
    batch = list(admin.compute.servers(all_projects=True, reservation_id=rid))
    assert sorted(s.name for s in batch) == ["batch-1", "batch-2", "batch-3"]
    assert sorted(s.launch_index for s in batch) == [0, 1, 2]
    bad = raw(user, "post", "/servers", json={"server": {
        "name": "batch", "flavorRef": flavor_id, "imageRef": image_id, "networks": "none",
        "min_count": 3, "max_count": 2}})
    assert bad.status_code == 400


def test_sort_keys(sim):
    admin = sim.connect()
    by_name = raw(admin, "get", "/servers?all_tenants=1&sort_key=display_name&sort_dir=asc"
                  ).json()["servers"]
    names = [s["name"] for s in by_name]
    assert names == sorted(names)
    user = sim.connect("govcloud-sim-gd-psd")
    resp = raw(user, "get", "/servers?sort_key=host")
    assert resp.status_code == 403
    assert raw(admin, "get", "/servers?sort_key=bogus").status_code == 400


def test_boot_from_volume_and_attach_detach(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    region = sim.cloud.regions["PROD"]
    flavor_id, image_id, _ = ids(region, "gc.c1m2")
    resp = raw(user, "post", "/servers", json={"server": {
        "name": "bfv", "flavorRef": flavor_id, "imageRef": "", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": image_id,
                                     "source_type": "image", "destination_type": "volume",
                                     "volume_size": 2, "delete_on_termination": True}]}})
    assert resp.status_code == 202
    sid = resp.json()["server"]["id"]
    server = user.compute.wait_for_server(user.compute.get_server(sid), interval=0.1, wait=30)
    assert raw(user, "get", f"/servers/{sid}").json()["server"]["image"] == ""
    (att,) = server.attached_volumes
    assert att["delete_on_termination"] is True
    boot_volume = region.volumes[att["id"]]
    assert boot_volume.status == "in-use" and boot_volume.bootable

    spare = user.block_storage.create_volume(size=1)
    user.block_storage.wait_for_status(spare, status="available", interval=0.1, wait=30)
    user.compute.create_volume_attachment(server, volume_id=spare.id)
    assert region.volumes[spare.id].status == "in-use"
    listed = list(user.compute.volume_attachments(server))
    assert {a.volume_id for a in listed} == {att["id"], spare.id}
    user.compute.delete_volume_attachment(server, spare.id)
    assert region.volumes[spare.id].status == "available"
    user.compute.delete_server(server)
    user.compute.wait_for_delete(server, interval=0.1, wait=30)
    assert att["id"] not in region.volumes  # deleted on termination
    assert spare.id in region.volumes


def test_a_users_own_port_survives_the_server(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    region = sim.cloud.regions["PROD"]
    flavor_id, image_id, net_id = ids(region, "gc.c1m2")
    port = user.network.create_port(network_id=net_id, name="keep-me")
    server = user.compute.create_server(name="on-my-port", flavor_id=flavor_id,
                                        image_id=image_id, networks=[{"port": port.id}])
    server = user.compute.wait_for_server(server, interval=0.1, wait=30)
    assert region.ports[port.id].device_id == server.id
    (ip,) = region.ports[port.id].fixed_ips
    assert server.addresses[region.networks[net_id].name][0]["addr"] == ip["ip_address"]
    in_use = raw(user, "post", "/servers", json={"server": {
        "name": "x", "flavorRef": flavor_id, "imageRef": image_id,
        "networks": [{"port": port.id}]}})
    assert in_use.status_code == 409
    assert in_use.json()["conflictingRequest"]["message"] == f"Port {port.id} is still in use."
    user.compute.delete_server(server)
    user.compute.wait_for_delete(server, interval=0.1, wait=30)
    assert port.id in region.ports and region.ports[port.id].device_id == ""
