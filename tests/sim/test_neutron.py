"""Neutron v2.0 in the simulator, driven by unmodified openstacksdk and the openstack CLI."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import openstack.exceptions
import pytest

OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def osc(sim, *args: str, cloud: str = "govcloud-sim", region: str = "PROD") -> object:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml), "OS_CLOUD": cloud,
           "OS_REGION_NAME": region}
    out = subprocess.run([OPENSTACK, *args, "-f", "json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, f"openstack {' '.join(args)} failed:\n{out.stderr}"
    return json.loads(out.stdout)


def test_versions_need_no_token(sim):
    with urllib.request.urlopen(sim.base_url + "/DR-LOCAL/network/", timeout=10) as resp:
        doc = json.loads(resp.read())
    assert doc["versions"][0]["id"] == "v2.0"
    assert doc["versions"][0]["links"][0]["href"].endswith("/DR-LOCAL/network/v2.0/")


def test_seeded_network_subnet_and_ports(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    (net,) = list(admin.network.networks())
    assert net.name == "prod-net" and net.is_shared and net.provider_network_type == "flat"
    (sub,) = list(admin.network.subnets())
    assert sub.network_id == net.id and sub.cidr == "10.16.0.0/20"
    assert sub.gateway_ip == "10.16.0.1" and sub.ip_version == 4
    ports = list(admin.network.ports())
    assert {p.id for p in ports} == set(region.ports)
    for p in ports:
        server = region.servers[p.device_id]
        assert p.device_owner == "compute:nova" and p.binding_host_id == server.host
        (ip,) = p.fixed_ips
        assert server.addresses["prod-net"][0]["addr"] == ip["ip_address"]
    # a department sees the shared network, but neither provider details nor other ports
    user = sim.connect("govcloud-sim-gd-psd")
    (seen,) = list(user.network.networks())
    raw = user.network.get(f"/networks/{seen.id}").json()["network"]
    assert "provider:network_type" not in raw and raw["router:external"] is False
    mine = {p.id for p in user.network.ports()}
    psd = sim.cloud.project_by_name("gd-psd").id
    assert mine == {p.id for p in region.ports.values() if p.project_id == psd}


def test_port_allocation_and_ipam_errors(sim):
    user = sim.connect("govcloud-sim-gd-tax")
    region = sim.cloud.regions["PROD"]
    net = next(iter(region.networks.values()))
    used = {ip["ip_address"] for p in region.ports.values() for ip in p.fixed_ips}
    port = user.network.create_port(network_id=net.id, name="tax-vip")
    (ip,) = port.fixed_ips
    assert ip["ip_address"] not in used
    assert ipaddress.ip_address(ip["ip_address"]) in ipaddress.ip_network("10.16.0.0/20")
    assert port.status == "DOWN" and port.device_id == ""
    default = next(g for g in user.network.security_groups() if g.name == "default")
    assert port.security_group_ids == [default.id]
    assert len(default.security_group_rules) == 4
    # the same address again is Neutron's 409
    resp = user.network.post("/ports", json={"port": {
        "network_id": net.id, "fixed_ips": [{"ip_address": ip["ip_address"]}]}},
        raise_exc=False)
    assert resp.status_code == 409
    assert resp.json()["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    resp = user.network.post("/ports", json={"port": {
        "network_id": net.id, "fixed_ips": [{"ip_address": "192.168.1.5"}]}}, raise_exc=False)
    assert resp.status_code == 400
    resp = user.network.post("/ports", json={"port": {"network_id": net.id, "bogus": 1}},
                             raise_exc=False)
    assert resp.status_code == 400 and "Unrecognized attribute" in resp.text
    resp = user.network.get("/networks/0b1c2d3e-0000-4000-8000-000000000000", raise_exc=False)
    assert resp.status_code == 404
    assert resp.json() == {"NeutronError": {
        "type": "NetworkNotFound", "detail": "",
        "message": "Network 0b1c2d3e-0000-4000-8000-000000000000 could not be found."}}
    user.network.delete_port(port)
    assert port.id not in region.ports


def test_own_network_lifecycle_and_in_use(sim):
    user = sim.connect("govcloud-sim-gd-edu")
    net = user.network.create_network(name="edu-private")
    sub = user.network.create_subnet(network_id=net.id, ip_version=4, cidr="192.168.10.0/24",
                                     name="edu-sub")
    assert sub.gateway_ip == "192.168.10.1"
    assert sub.allocation_pools == [{"start": "192.168.10.2", "end": "192.168.10.254"}]
    port = user.network.create_port(network_id=net.id)
    assert port.fixed_ips[0]["ip_address"] == "192.168.10.2"
    with pytest.raises(openstack.exceptions.ConflictException):
        user.network.delete_network(net)
    with pytest.raises(openstack.exceptions.ConflictException):
        user.network.delete_subnet(sub)
    resp = user.network.post("/subnets", json={"subnet": {
        "network_id": net.id, "ip_version": 4, "cidr": "192.168.10.128/25"}}, raise_exc=False)
    assert resp.status_code == 400 and "overlaps" in resp.text
    user.network.delete_port(port)
    user.network.delete_network(net)
    assert user.network.find_network("edu-private") is None
    assert sub.id not in sim.cloud.regions["PROD"].subnets


def test_quotas_details_and_over_quota(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    psd = sim.cloud.project_by_name("gd-psd").id
    details = admin.network.get_quota(psd, details=True)
    used = sum(1 for p in region.ports.values() if p.project_id == psd)
    assert details.ports == {"limit": region.network_quota(psd)["port"], "used": used,
                             "reserved": 0}
    assert admin.network.find_extension("quota_details") is not None
    admin.network.update_quota(psd, ports=used)
    assert admin.network.get_quota(psd).ports == used
    user = sim.connect("govcloud-sim-gd-psd")
    net = next(iter(region.networks.values()))
    resp = user.network.post("/ports", json={"port": {"network_id": net.id}}, raise_exc=False)
    assert resp.status_code == 409
    assert resp.json()["NeutronError"] == {
        "type": "OverQuota", "message": "Quota exceeded for resources: ['port'].", "detail": ""}
    # members may read their own quota but not change it
    assert user.network.get_quota(psd).ports == used
    with pytest.raises(openstack.exceptions.ForbiddenException):
        user.network.update_quota(psd, ports=1000)
    admin.network.delete_quota(psd)
    assert admin.network.get_quota(psd).ports == region.network_quota_defaults["port"]


def test_paging_sorting_fields_and_filters(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    page = admin.network.get("/ports?limit=5&sort_key=id&sort_dir=asc").json()
    assert [p["id"] for p in page["ports"]] == sorted(region.ports)[:5]
    (link,) = [lk for lk in page["ports_links"] if lk["rel"] == "next"]
    assert "marker=" in link["href"]
    assert sorted(p.id for p in admin.network.ports(limit=5)) == sorted(region.ports)
    some = next(iter(region.ports.values()))
    got = admin.network.get(f"/ports?device_id={some.device_id}&fields=id&fields=device_id")
    assert got.json()["ports"] == [{"id": some.id, "device_id": some.device_id}]
    ip = some.fixed_ips[0]["ip_address"]
    assert [p.id for p in admin.network.ports(fixed_ips=f"ip_address={ip}")] == [some.id]
    resp = admin.network.get("/ports?nonsense=1", raise_exc=False)
    assert resp.status_code == 400 and "invalid attribute for filtering" in resp.text
    assert list(admin.network.ips()) == [] and list(admin.network.routers()) == []


def test_security_group_rules(sim):
    user = sim.connect("govcloud-sim-gd-hrss")
    sg = user.network.create_security_group(name="web")
    assert {(r["direction"], r["ethertype"]) for r in sg.security_group_rules} == \
        {("egress", "IPv4"), ("egress", "IPv6")}
    rule = user.network.create_security_group_rule(
        security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=443,
        port_range_max=443, remote_ip_prefix="10.0.0.0/8", ethertype="IPv4")
    with pytest.raises(openstack.exceptions.ConflictException):
        user.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=443,
            port_range_max=443, remote_ip_prefix="10.0.0.0/8", ethertype="IPv4")
    assert len(user.network.get_security_group(sg.id).security_group_rules) == 3
    user.network.delete_security_group_rule(rule)
    user.network.delete_security_group(sg)
    default = next(g for g in user.network.security_groups() if g.name == "default")
    resp = user.network.delete(f"/security-groups/{default.id}", raise_exc=False)
    assert resp.status_code == 409


def test_network_commands_of_the_openstack_cli(sim):
    nets = osc(sim, "network", "list")
    assert [n["Name"] for n in nets] == ["prod-net"]
    subs = osc(sim, "subnet", "list", region="DR-REMOTE")
    assert [s["Subnet"] for s in subs] == ["10.48.0.0/20"]
    ports = osc(sim, "port", "list")
    assert len(ports) == len(sim.cloud.regions["PROD"].ports)
    quota = osc(sim, "quota", "show", "--network", "gd-psd")
    assert quota
