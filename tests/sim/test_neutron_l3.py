"""Neutron routers, floating IPs and agents in the simulator, over HTTP with unmodified
openstacksdk: the ports they take, the errors real Neutron gives, and the floating address
showing on the server in Nova."""

from __future__ import annotations

import openstack.exceptions
import pytest


def _external(admin, name="public", cidr="203.0.113.0/24"):
    net = admin.network.create_network(name=name, is_router_external=True,
                                       provider_network_type="flat",
                                       provider_physical_network="physnet2")
    sub = admin.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr,
                                      is_dhcp_enabled=False, name=f"{name}-v4")
    return net, sub


def _error(exc_info):
    return exc_info.value.response.json()["NeutronError"]


def test_router_gateway_interface_and_delete_rules(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    ext, ext_sub = _external(admin)
    (inner,) = [s for s in admin.network.subnets() if s.network_id != ext.id]
    router = admin.network.create_router(name="edge", external_gateway_info={
        "network_id": ext.id})
    assert router.status == "ACTIVE" and router.is_ha is False
    (gw_ip,) = router.external_gateway_info["external_fixed_ips"]
    assert gw_ip["subnet_id"] == ext_sub.id
    assert router.external_gateway_info["enable_snat"] is True
    gw_ports = list(admin.network.ports(device_id=router.id,
                                        device_owner="network:router_gateway"))
    assert [p.fixed_ips[0]["ip_address"] for p in gw_ports] == [gw_ip["ip_address"]]

    info = admin.network.add_interface_to_router(router, subnet_id=inner.id)
    assert info["subnet_id"] == inner.id and info["subnet_ids"] == [inner.id]
    port = admin.network.get_port(info["port_id"])
    assert port.device_owner == "network:router_interface"
    assert port.fixed_ips == [{"subnet_id": inner.id, "ip_address": inner.gateway_ip}]
    with pytest.raises(openstack.exceptions.BadRequestException) as again:
        admin.network.add_interface_to_router(router, subnet_id=inner.id)
    assert _error(again)["message"] == (
        f"Bad router request: Router already has a port on subnet {inner.id}.")
    with pytest.raises(openstack.exceptions.ConflictException) as in_use:
        admin.network.delete_router(router)
    assert _error(in_use)["type"] == "RouterInUse"
    with pytest.raises(openstack.exceptions.ConflictException) as direct:
        admin.network.delete_port(port)
    assert _error(direct)["type"] == "L3PortInUse"

    # a gateway needs an external network
    with pytest.raises(openstack.exceptions.BadRequestException) as not_ext:
        admin.network.create_router(name="x", external_gateway_info={
            "network_id": inner.network_id})
    assert _error(not_ext)["message"] == (
        f"Bad router request: Network {inner.network_id} is not an external network.")

    admin.network.remove_interface_from_router(router, subnet_id=inner.id)
    assert port.id not in region.ports
    with pytest.raises(openstack.exceptions.NotFoundException) as gone:
        admin.network.remove_interface_from_router(router, subnet_id=inner.id)
    assert _error(gone)["type"] == "RouterInterfaceNotFoundForSubnet"
    admin.network.delete_router(router)
    assert not list(admin.network.ports(device_id=router.id))
    assert not list(admin.network.routers())


def test_floating_ip_allocate_associate_and_show_in_nova(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    user = sim.connect("govcloud-sim-gd-psd")
    ext, ext_sub = _external(admin)
    (inner,) = [s for s in admin.network.subnets() if s.network_id != ext.id]
    pid = sim.cloud.project_by_name("gd-psd").id
    server = next(s for s in region.servers.values()
                  if s.project_id == pid and s.status == "ACTIVE" and s.port_ids)
    (port_id,) = server.port_ids[:1]

    fip = user.network.create_ip(floating_network_id=ext.id)
    assert fip.status == "DOWN" and fip.port_id is None and fip.project_id == pid
    assert fip.floating_ip_address in [str(a) for a in _hosts(ext_sub.cidr)]
    # no router joins the server's subnet to the external network yet: Neutron's 404
    with pytest.raises(openstack.exceptions.NotFoundException) as unreachable:
        user.network.update_ip(fip, port_id=port_id)
    assert _error(unreachable)["message"] == (
        f"External network {ext.id} is not reachable from subnet {inner.id}.  Therefore, "
        f"cannot associate Port {port_id} with a Floating IP.")

    router = admin.network.create_router(name="edge", external_gateway_info={
        "network_id": ext.id})
    admin.network.add_interface_to_router(router, subnet_id=inner.id)
    fip = user.network.update_ip(fip, port_id=port_id)
    assert fip.router_id == router.id and fip.port_id == port_id
    assert fip.fixed_ip_address == region.ports[port_id].fixed_ips[0]["ip_address"]
    assert fip.port_details["device_id"] == server.id
    shown = user.compute.get_server(server.id)
    floating = [a for addrs in shown.addresses.values() for a in addrs
                if a["OS-EXT-IPS:type"] == "floating"]
    assert [a["addr"] for a in floating] == [fip.floating_ip_address]
    assert [f.id for f in user.network.ips(floating_ip_address=fip.floating_ip_address)] == [
        fip.id]
    quota = user.network.get_quota(pid, details=True)
    assert quota.floating_ips["used"] == 1

    # the interface the floating IP needs cannot go; the router cannot go either
    with pytest.raises(openstack.exceptions.ConflictException) as needed:
        admin.network.remove_interface_from_router(router, subnet_id=inner.id)
    assert _error(needed)["type"] == "RouterInterfaceInUseByFloatingIP"
    # a non-external network cannot give floating IPs
    with pytest.raises(openstack.exceptions.BadRequestException) as bad:
        user.network.create_ip(floating_network_id=inner.network_id)
    assert _error(bad)["message"] == (
        f"Bad floatingip request: Network {inner.network_id} is not a valid external "
        "network.")

    user.network.update_ip(fip, port_id=None)
    shown = user.compute.get_server(server.id)
    assert not [a for addrs in shown.addresses.values() for a in addrs
                if a["OS-EXT-IPS:type"] == "floating"]
    user.network.delete_ip(fip)
    assert not list(user.network.ips())
    assert not list(admin.network.ports(device_owner="network:floatingip"))


def test_a_deleted_servers_floating_ip_is_disassociated(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    ext, _ = _external(admin)
    (inner,) = [s for s in admin.network.subnets() if s.network_id != ext.id]
    router = admin.network.create_router(external_gateway_info={"network_id": ext.id})
    admin.network.add_interface_to_router(router, subnet_id=inner.id)
    server = next(s for s in region.servers.values() if s.status == "ACTIVE" and s.port_ids)
    fip = admin.network.create_ip(floating_network_id=ext.id, port_id=server.port_ids[0],
                                  project_id=server.project_id)
    assert fip.port_id == server.port_ids[0]
    admin.compute.delete_server(server.id)
    fip = admin.network.get_ip(fip.id)
    assert fip.port_id is None and fip.router_id is None and fip.status == "DOWN"


def test_agents_per_host_with_neutrons_fields(sim):
    admin = sim.connect()
    region = sim.cloud.regions["PROD"]
    agents = list(admin.network.agents())
    kinds = {a.agent_type for a in agents}
    assert kinds == {"Open vSwitch agent", "DHCP agent", "L3 agent", "Metadata agent"}
    ovs_hosts = {a.host for a in agents if a.agent_type == "Open vSwitch agent"}
    assert set(region.hv_by_host) <= ovs_hosts
    for a in agents:
        if a.host in region.hv_by_host:
            assert a.is_alive == region.hv_by_host[a.host].service.is_up
    l3 = [a for a in agents if a.agent_type == "L3 agent"]
    assert l3 and all(a.binary == "neutron-l3-agent" and a.topic == "l3_agent"
                      and a.availability_zone == "nova" for a in l3)
    raw = admin.network.get("/agents").json()["agents"][0]
    assert set(raw) == {"admin_state_up", "agent_type", "alive", "availability_zone",
                        "binary", "configurations", "created_at", "description",
                        "heartbeat_timestamp", "host", "id", "resources_synced",
                        "started_at", "topic"}
    admin.network.update_agent(l3[0], description="rack 4")
    assert admin.network.get_agent(l3[0].id).description == "rack 4"
    # get_agent is admin-only: a member sees none
    assert list(sim.connect("govcloud-sim-gd-psd").network.agents()) == []


def _hosts(cidr):
    import ipaddress

    return ipaddress.ip_network(cidr).hosts()
