"""The `openstack` CLI (python-openstackclient, unmodified) against the simulator:
the commands operators use daily."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPENSTACK = shutil.which("openstack") or str(Path(sys.executable).with_name("openstack"))


def osc(sim, *args: str, cloud: str = "govcloud-sim", region: str = "PROD",
        json_output: bool = True) -> object:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "OS_CLOUD": cloud,
           "OS_REGION_NAME": region}
    fmt = ["-f", "json"] if json_output else []
    out = subprocess.run([OPENSTACK, *args, *fmt], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"openstack {' '.join(args)} failed:\n{out.stderr}"
    if not json_output:
        return out.stdout
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture
def env_ready(sim):
    if not Path(OPENSTACK).exists():
        pytest.fail("python-openstackclient is a test dependency and must be installed")
    return sim


def test_read_commands(env_ready):
    sim = env_ready
    servers = osc(sim, "server", "list", "--all-projects", "--long")
    assert len(servers) == len(sim.cloud.regions["PROD"].servers)
    assert {"ID", "Name", "Status", "Host"} <= set(servers[0])
    hypervisors = osc(sim, "hypervisor", "list", "--long")
    assert len(hypervisors) == len(sim.cloud.regions["PROD"].hypervisors)
    shown = osc(sim, "hypervisor", "show", hypervisors[0]["Hypervisor Hostname"])
    assert shown["hypervisor_hostname"] == hypervisors[0]["Hypervisor Hostname"]
    services = osc(sim, "compute", "service", "list")
    assert any(s["State"] == "down" for s in services)
    assert {s["Binary"] for s in services} >= {"nova-compute", "nova-scheduler"}
    quota = osc(sim, "quota", "show", "gd-psd")
    assert quota
    projects = osc(sim, "project", "list")
    assert "gd-psd" in {p["Name"] for p in projects}
    flavors = osc(sim, "flavor", "list")
    assert "gc.c2m4" in {f["Name"] for f in flavors}


def test_server_create_and_delete_wait(env_ready):
    sim = env_ready
    created = osc(sim, "server", "create", "--flavor", "gc.c1m2", "--image",
                  "cirros-0.6.2-x86_64-disk", "--network", "prod-net", "--wait",
                  "cli-made-01", cloud="govcloud-sim-gd-psd")
    assert created["status"] == "ACTIVE"
    assert created["name"] == "cli-made-01"
    osc(sim, "server", "delete", "--wait", created["id"], cloud="govcloud-sim-gd-psd",
        json_output=False)
    left = osc(sim, "server", "list", "--name", "cli-made-01", cloud="govcloud-sim-gd-psd")
    assert left == []


def test_other_regions_via_cli(env_ready):
    sim = env_ready
    for region in ("DR-LOCAL", "DR-REMOTE"):
        servers = osc(sim, "server", "list", "--all-projects", region=region)
        assert len(servers) == len(sim.cloud.regions[region].servers)


def test_role_assignment_list_with_names(env_ready):
    """`--names` needs every scope's name, a domain's too (Keystone's include_names)."""
    sim = env_ready
    rows = osc(sim, "role", "assignment", "list", "--names")
    cloud = sim.cloud
    assert len(rows) == len(cloud.assignments)
    domain_scoped = [a for a in cloud.assignments if a.domain_id]
    assert domain_scoped, "the seed has a domain-scoped assignment"
    domain_names = {cloud.domains[a.domain_id].name for a in domain_scoped}
    assert {r["Domain"] for r in rows if r["Domain"]} == domain_names
    assert any(r["Project"] == "gd-psd@Default" for r in rows)
    assert any(r["System"] == "all" for r in rows)


def _movable(sim, project="gd-psd"):
    """An ACTIVE server of the project on a compute whose service is up."""
    region = sim.cloud.regions["PROD"]
    pid = sim.cloud.project_by_name(project).id
    return next(s for s in region.servers.values()
                if s.project_id == pid and s.status == "ACTIVE" and not s.locked
                and s.flavor.name == "gc.c2m4" and region.hv_by_host[s.host].service.is_up)


def _show(sim, server_id):
    """The server as the admin sees it (openstacksdk: the CLI's startup is seconds)."""
    return sim.connect().compute.get_server(server_id)


def _confirmed(sim, server_id):
    """The server once a confirm took effect: Nova answers the confirm at once and leaves
    VERIFY_RESIZE a moment later (so does the simulator)."""
    return sim.connect().compute.wait_for_server(_show(sim, server_id), interval=0.1, wait=30)


def test_server_resize_confirm_and_revert(env_ready):
    sim = env_ready
    member = "govcloud-sim-gd-psd"
    s = _movable(sim)
    source = s.host
    osc(sim, "server", "resize", "--flavor", "gc.c4m8", "--wait", s.id, cloud=member,
        json_output=False)
    shown = _show(sim, s.id)
    assert shown.status == "VERIFY_RESIZE" and shown.flavor.original_name == "gc.c4m8"
    osc(sim, "server", "resize", "confirm", s.id, cloud=member, json_output=False)
    shown = _confirmed(sim, s.id)
    assert shown.status == "ACTIVE" and shown.flavor.original_name == "gc.c4m8"
    assert shown.compute_host != source

    before = shown.compute_host
    osc(sim, "server", "resize", "--flavor", "gc.c8m16", "--wait", s.id, cloud=member,
        json_output=False)
    osc(sim, "server", "resize", "revert", s.id, cloud=member, json_output=False)
    shown = sim.connect().compute.wait_for_server(_show(sim, s.id), interval=0.1, wait=30)
    assert shown.flavor.original_name == "gc.c4m8" and shown.compute_host == before
    rows = osc(sim, "server", "migration", "list", "--server", s.id)
    assert sorted(r["Status"] for r in rows) == ["confirmed", "reverted"]


def test_server_cold_and_live_migrate(env_ready):
    sim = env_ready
    s = _movable(sim)
    source = s.host
    osc(sim, "server", "migrate", "--wait", s.id, json_output=False)
    assert _show(sim, s.id).status == "VERIFY_RESIZE"
    osc(sim, "server", "migration", "confirm", s.id, json_output=False)
    shown = _confirmed(sim, s.id)
    assert shown.status == "ACTIVE" and shown.compute_host != source

    here = shown.compute_host
    osc(sim, "server", "migrate", "--live-migration", "--wait", s.id, json_output=False)
    shown = _show(sim, s.id)
    assert shown.status == "ACTIVE" and shown.compute_host not in (here, None)


def test_server_shelve_and_unshelve(env_ready):
    sim = env_ready
    member = "govcloud-sim-gd-psd"
    s = _movable(sim)
    osc(sim, "server", "shelve", "--wait", s.id, cloud=member, json_output=False)
    shown = _show(sim, s.id)
    assert shown.status == "SHELVED_OFFLOADED" and shown.compute_host is None
    osc(sim, "server", "unshelve", "--wait", s.id, cloud=member, json_output=False)
    shown = _show(sim, s.id)
    assert shown.status == "ACTIVE" and shown.compute_host


def test_router_floating_ip_and_agents(env_ready):
    sim = env_ready
    admin = sim.connect()
    public = admin.network.create_network(name="public", is_router_external=True,
                                          provider_network_type="flat",
                                          provider_physical_network="physnet2")
    admin.network.create_subnet(network_id=public.id, ip_version=4, cidr="203.0.113.0/24",
                                is_dhcp_enabled=False, name="public-v4")
    router = osc(sim, "router", "create", "--external-gateway", "public", "edge")
    assert router["name"] == "edge" and router["status"] == "ACTIVE"
    assert router["external_gateway_info"]["network_id"] == public.id
    (inner,) = [sub for sub in admin.network.subnets() if sub.network_id != public.id]
    admin.network.add_interface_to_router(router["id"], subnet_id=inner.id)

    member = "govcloud-sim-gd-psd"
    fip = osc(sim, "floating", "ip", "create", "public", cloud=member)
    address = fip["floating_ip_address"]
    s = _movable(sim)
    osc(sim, "server", "add", "floating", "ip", s.id, address, cloud=member,
        json_output=False)
    listed = osc(sim, "floating", "ip", "list", cloud=member)
    assert [(f["Floating IP Address"], f["Fixed IP Address"]) for f in listed] == [
        (address, s.addresses["prod-net"][0]["addr"])]
    addresses = _show(sim, s.id).addresses["prod-net"]
    assert [a["addr"] for a in addresses if a["OS-EXT-IPS:type"] == "floating"] == [address]
    osc(sim, "floating", "ip", "delete", address, cloud=member, json_output=False)
    assert list(sim.connect(member).network.ips()) == []

    agents = osc(sim, "network", "agent", "list")
    region = sim.cloud.regions["PROD"]
    assert {a["Agent Type"] for a in agents} == {"Open vSwitch agent", "DHCP agent",
                                                 "L3 agent", "Metadata agent"}
    assert len([a for a in agents if a["Agent Type"] == "Open vSwitch agent"]) == len(
        region.hypervisors) + 2
    down = {h for h, hv in region.hv_by_host.items() if not hv.service.is_up}
    assert {a["Host"] for a in agents if not a["Alive"]} == down
