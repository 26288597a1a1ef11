"""Nova admin APIs over HTTP: hypervisors per microversion, os-services, availability zones,
aggregates, tenant usage — through unmodified openstacksdk."""

from __future__ import annotations

import datetime as dt

from tests.sim.nova import raw

CAPACITY_FIELDS = {"vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
                   "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
                   "running_vms", "disk_available_least"}


def test_hypervisors_drop_capacity_fields_from_2_88(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    hvs = list(conn.compute.hypervisors(details=True))
    assert len(hvs) == len(region.hypervisors)
    new = raw(conn, "get", "/os-hypervisors/detail").json()["hypervisors"]
    assert not CAPACITY_FIELDS & set(new[0])
    assert "cpu_info" not in new[0]  # removed with the figures at 2.88 (as real Nova does)
    assert new[0]["uptime"] and new[0]["service"]["host"] == new[0]["hypervisor_hostname"]
    old = raw(conn, "get", "/os-hypervisors/detail", mv="2.87").json()["hypervisors"]
    assert set(old[0]) >= CAPACITY_FIELDS | {"cpu_info"}
    # the old figures come from the provider's placement inventory and usage
    for view in old:
        hv = region.hypervisors[view["id"]]
        mem = hv.provider.inventories["MEMORY_MB"]
        assert view["vcpus"] == hv.provider.inventories["VCPU"].total
        assert view["vcpus_used"] == hv.provider.used.get("VCPU", 0)
        assert view["memory_mb"] == mem.total
        assert view["memory_mb_used"] == hv.provider.used.get("MEMORY_MB", 0) + mem.reserved
        assert view["running_vms"] == len(hv.servers)
    assert raw(conn, "get", "/os-hypervisors/statistics").status_code == 404
    stats = raw(conn, "get", "/os-hypervisors/statistics", mv="2.87").json()
    assert stats["hypervisor_statistics"]["count"] == len(region.hypervisors)


def test_hypervisor_ids_show_servers_and_patterns(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    legacy = raw(conn, "get", "/os-hypervisors", mv="2.52").json()["hypervisors"]
    assert all(isinstance(h["id"], int) for h in legacy)
    hv = next(h for h in region.hypervisors.values() if h.servers)
    shown = conn.compute.get_hypervisor(hv.id)
    assert shown.name == hv.hostname and shown.state == hv.state
    found = conn.compute.find_hypervisor(hv.hostname, ignore_missing=False)
    assert found.id == hv.id
    with_servers = raw(conn, "get", f"/os-hypervisors/{hv.id}?with_servers=true").json()
    assert {s["uuid"] for s in with_servers["hypervisor"]["servers"]} == hv.servers
    assert raw(conn, "get", "/os-hypervisors/42").json() == {
        "badRequest": {"code": 400, "message": "Invalid uuid 42"}}
    assert raw(conn, "get", "/os-hypervisors/42", mv="2.52").status_code == 404
    matched = raw(conn, "get", "/os-hypervisors?hypervisor_hostname_pattern=cmp-0001").json()
    assert [h["hypervisor_hostname"] for h in matched["hypervisors"]] == ["prod-cmp-0001"]
    missing = raw(conn, "get", "/os-hypervisors?hypervisor_hostname_pattern=zzz")
    assert missing.status_code == 404
    page = raw(conn, "get", "/os-hypervisors?limit=2").json()
    assert len(page["hypervisors"]) == 2 and page["hypervisors_links"][0]["rel"] == "next"


def test_admin_views_are_forbidden_to_members(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    for path, rule in (("/os-hypervisors", "os-hypervisors:list"),
                       ("/os-hypervisors/detail", "os-hypervisors:list-detail"),
                       ("/os-services", "os-services:list"),
                       ("/os-aggregates", "os-aggregates:index"),
                       ("/os-availability-zone/detail", "os-availability-zone:detail")):
        resp = raw(user, "get", path)
        assert resp.status_code == 403, path
        assert resp.json() == {"forbidden": {"code": 403, "message":
                                             f"Policy doesn't allow os_compute_api:{rule} "
                                             "to be performed."}}


def test_services_state_status_and_forced_down(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    services = list(conn.compute.services())
    assert len(services) == len(region.services)
    down = [s for s in services if s.state == "down"]
    assert {s.host for s in down} == {s.host for s in region.services.values()
                                      if not s.is_up}
    target = next(s for s in region.services.values()
                  if s.binary == "nova-compute" and s.is_up and s.status == "enabled")
    resp = raw(conn, "put", f"/os-services/{target.id}", json={"forced_down": True})
    assert resp.json()["service"]["state"] == "down"
    assert resp.json()["service"]["forced_down"] is True
    resp = raw(conn, "put", f"/os-services/{target.id}",
               json={"status": "disabled", "disabled_reason": "rack swap"})
    svc = resp.json()["service"]
    assert (svc["status"], svc["disabled_reason"]) == ("disabled", "rack swap")
    # a disabled or forced-down compute gets no new servers
    flavor = next(f for f in region.flavors.values() if f.name == "gc.c1m2")
    for _ in range(10):
        assert region.schedule(flavor).hostname != target.host
    bad = raw(conn, "put", f"/os-services/{target.id}",
              json={"status": "enabled", "disabled_reason": "x"})
    assert bad.status_code == 400
    sched = next(s for s in region.services.values() if s.binary == "nova-scheduler")
    bad = raw(conn, "put", f"/os-services/{sched.id}", json={"status": "disabled"})
    assert bad.json()["badRequest"]["message"] == (
        "Updating a nova-scheduler service is not supported. Only nova-compute services can "
        "be updated.")
    # before 2.53: integer ids and the enable/disable actions
    legacy = raw(conn, "get", "/os-services", mv="2.52").json()["services"]
    assert all(isinstance(s["id"], int) for s in legacy)
    resp = raw(conn, "put", "/os-services/enable", mv="2.52",
               json={"host": target.host, "binary": "nova-compute"})
    assert resp.json() == {"service": {"host": target.host, "binary": "nova-compute",
                                       "status": "enabled"}}
    assert target.status == "enabled"
    resp = raw(conn, "put", "/os-services/force-down", mv="2.11",
               json={"host": target.host, "binary": "nova-compute", "forced_down": False})
    assert resp.json() == {"service": {"host": target.host, "binary": "nova-compute",
                                       "forced_down": False}}
    assert target.is_up
    assert raw(conn, "put", "/os-services/force-down", mv="2.10",
               json={"host": target.host, "binary": "nova-compute",
                     "forced_down": True}).status_code == 404


def test_deleting_a_busy_compute_service_is_refused(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    busy = next(h for h in region.hypervisors.values() if h.servers)
    resp = raw(conn, "delete", f"/os-services/{busy.service.id}")
    assert resp.status_code == 409
    assert busy.service.id in region.services


def test_availability_zones(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    assert user.list_availability_zone_names() == ["nova"]
    admin = sim.connect()
    zones = {z.name: z for z in admin.compute.availability_zones(details=True)}
    assert set(zones) == {"internal", "nova"}
    hosts = zones["nova"].hosts
    assert set(hosts) == {s.host for s in sim.cloud.regions["PROD"].services.values()
                          if s.zone == "nova"}


def test_aggregates_move_hosts_between_zones(sim):
    conn = sim.connect()
    region = sim.cloud.regions["PROD"]
    agg = conn.compute.create_aggregate(name="gpu", availability_zone="az-gpu")
    host = next(iter(region.hv_by_host))
    conn.compute.add_host_to_aggregate(agg, host)
    shown = conn.compute.get_aggregate(agg.id)
    assert shown.hosts == [host] and shown.availability_zone == "az-gpu"
    zones = {z.name for z in conn.compute.availability_zones()}
    assert "az-gpu" in zones
    dup = raw(conn, "post", "/os-aggregates", json={"aggregate": {"name": "gpu"}})
    assert dup.status_code == 409
    busy = raw(conn, "delete", f"/os-aggregates/{agg.id}")
    assert busy.status_code == 400
    conn.compute.remove_host_from_aggregate(agg, host)
    conn.compute.delete_aggregate(agg)
    assert list(conn.compute.aggregates()) == []


def test_tenant_usage(sim):
    admin = sim.connect()
    pid = sim.cloud.project_by_name("gd-psd").id
    start = dt.datetime(2024, 1, 1)
    end = dt.datetime(2026, 1, 1)
    usage = admin.compute.get_usage(pid, start, end)
    assert usage.total_hours > 0 and usage.server_usages
    resp = raw(admin, "get", "/os-simple-tenant-usage?start=2024-01-01T00:00:00"
                             "&end=2026-01-01T00:00:00&detailed=1")
    tenants = {u["tenant_id"] for u in resp.json()["tenant_usages"]}
    assert pid in tenants
    user = sim.connect("govcloud-sim-gd-tax")
    assert raw(user, "get", f"/os-simple-tenant-usage/{pid}").status_code == 403
