"""Neutron v2.0: networks, subnets and ports (with address allocation), security groups and
rules, quotas (with ``/details``), tags, extensions; routers and floating IPs
(``neutron_l3``), agents (``neutron_agents``).

Resources come back with Neutron's fields (``provider:*`` and ``binding:*`` only for admins),
lists filter on any attribute, sort, select ``fields`` and page with ``limit``/``marker`` and
``{resource}_links``; errors use ``{"NeutronError": {"type", "message", "detail"}}``. Networks,
subnets and ports are the region's shared records, so ports Nova creates show up here and
ports made here can be handed to Nova.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from govcloud.sim.http import Request, Response, Router, json_response
from govcloud.sim.model import Network, Port, Subnet, now
from govcloud.sim.neutron_agents import AgentsMixin
from govcloud.sim.neutron_base import as_bool, bad, nerr, policy, ts
from govcloud.sim.neutron_extra import ExtraMixin
from govcloud.sim.neutron_l3 import FLOATING, GATEWAY, INTERFACE, L3Mixin

NETWORK_FIELDS = {"name", "admin_state_up", "shared", "router:external", "mtu", "description",
                  "port_security_enabled", "project_id", "tenant_id", "availability_zone_hints",
                  "dns_domain", "qos_policy_id", "provider:network_type",
                  "provider:physical_network", "provider:segmentation_id", "is_default"}
SUBNET_FIELDS = {"name", "network_id", "cidr", "ip_version", "gateway_ip", "allocation_pools",
                 "enable_dhcp", "dns_nameservers", "host_routes", "description", "project_id",
                 "tenant_id", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
                 "service_types", "segment_id", "prefixlen", "use_default_subnetpool"}
PORT_FIELDS = {"name", "network_id", "fixed_ips", "mac_address", "device_id", "device_owner",
               "admin_state_up", "security_groups", "description", "binding:host_id",
               "binding:vnic_type", "binding:profile", "port_security_enabled",
               "allowed_address_pairs", "project_id", "tenant_id", "dns_name",
               "extra_dhcp_opts", "qos_policy_id", "propagate_uplink_status"}
ADMIN_PORT_FIELDS = {"binding:host_id", "binding:profile", "mac_address"}


class NeutronAPI(ExtraMixin, L3Mixin, AgentsMixin):
    def register(self, router: Router) -> None:
        def add(method: str, pattern: str, handler: Any, **kw: Any) -> None:
            router.add("network", method, pattern, handler, **kw)

        add("GET", "/", self.versions, auth=False)
        add("GET", "/v2.0", self.resources)
        add("GET", "/v2.0/extensions", self.list_extensions)
        add("GET", "/v2.0/extensions/{alias}", self.get_extension)
        for coll, one in (("networks", "network"), ("subnets", "subnet"), ("ports", "port"),
                          ("security-groups", "sg"), ("security-group-rules", "rule")):
            add("GET", f"/v2.0/{coll}", getattr(self, f"list_{one}s"))
            add("POST", f"/v2.0/{coll}", getattr(self, f"create_{one}"))
            add("GET", f"/v2.0/{coll}/{{rid}}", getattr(self, f"get_{one}"))
            if one != "rule":
                add("PUT", f"/v2.0/{coll}/{{rid}}", getattr(self, f"update_{one}"))
            add("DELETE", f"/v2.0/{coll}/{{rid}}", getattr(self, f"delete_{one}"))
        base = "/v2.0/{collection}/{rid}/tags"  # networks, subnets, ports, security-groups
        add("GET", base, self.get_tags)
        add("PUT", base, self.set_tags)
        add("POST", base, self.post_tags)
        add("DELETE", base, self.delete_tags)
        add("PUT", base + "/{tag}", self.add_tag)
        add("GET", base + "/{tag}", self.check_tag)
        add("DELETE", base + "/{tag}", self.delete_tag)
        add("GET", "/v2.0/quotas", self.list_quotas)
        add("GET", "/v2.0/quotas/{project_id}", self.get_quota)
        add("PUT", "/v2.0/quotas/{project_id}", self.update_quota)
        add("DELETE", "/v2.0/quotas/{project_id}", self.delete_quota)
        add("GET", "/v2.0/quotas/{project_id}/default", self.quota_default)
        add("GET", "/v2.0/quotas/{project_id}/details", self.quota_details)
        add("GET", "/v2.0/routers", self.list_routers)
        add("POST", "/v2.0/routers", self.create_router)
        add("GET", "/v2.0/routers/{router_id}", self.get_router)
        add("PUT", "/v2.0/routers/{router_id}", self.update_router)
        add("DELETE", "/v2.0/routers/{router_id}", self.delete_router)
        add("PUT", "/v2.0/routers/{router_id}/add_router_interface", self.add_router_interface)
        add("PUT", "/v2.0/routers/{router_id}/remove_router_interface",
            self.remove_router_interface)
        add("GET", "/v2.0/floatingips", self.list_fips)
        add("POST", "/v2.0/floatingips", self.create_fip)
        add("GET", "/v2.0/floatingips/{fip_id}", self.get_fip)
        add("PUT", "/v2.0/floatingips/{fip_id}", self.update_fip)
        add("DELETE", "/v2.0/floatingips/{fip_id}", self.delete_fip)
        add("GET", "/v2.0/agents", self.list_agents)
        add("GET", "/v2.0/agents/{agent_id}", self.get_agent)
        add("PUT", "/v2.0/agents/{agent_id}", self.update_agent)
        add("DELETE", "/v2.0/agents/{agent_id}", self.delete_agent)
        add("GET", "/v2.0/subnetpools", self.list_subnetpools)
        add("GET", "/v2.0/availability_zones", self.list_azs)

    # --- discovery -----------------------------------------------------------------------------

    def versions(self, req: Request) -> Response:
        return json_response({"versions": [{
            "id": "v2.0", "status": "CURRENT",
            "links": [{"href": f"{req.base_url}/v2.0/", "rel": "self"}]}]})

    def resources(self, req: Request) -> Response:
        names = (("subnet", "subnets"), ("network", "networks"), ("port", "ports"),
                 ("security_group", "security-groups"),
                 ("security_group_rule", "security-group-rules"), ("quota", "quotas"),
                 ("router", "routers"), ("floatingip", "floatingips"),
                 ("subnetpool", "subnetpools"), ("agent", "agents"))
        return json_response({"resources": [
            {"name": n, "collection": c,
             "links": [{"href": f"{req.base_url}/v2.0/{c}", "rel": "self"}]}
            for n, c in names]})

    # --- networks ------------------------------------------------------------------------------

    def _net_json(self, req: Request, net: Network) -> dict[str, Any]:
        a = self._attrs(req, net.id)
        doc: dict[str, Any] = {
            "id": net.id, "name": net.name, "tenant_id": net.project_id,
            "project_id": net.project_id, "admin_state_up": net.admin_state_up,
            "mtu": net.mtu, "status": net.status, "subnets": list(net.subnet_ids),
            "shared": net.shared, "availability_zone_hints": a.get("availability_zone_hints",
                                                                   []),
            "availability_zones": list(net.availability_zones),
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "router:external": net.external, "description": net.description,
            "port_security_enabled": a.get("port_security_enabled", True),
            "qos_policy_id": a.get("qos_policy_id"), "l2_adjacency": True,
            "dns_domain": a.get("dns_domain", ""), "tags": sorted(net.tags),
            "created_at": ts(net.created_at), "updated_at": ts(net.updated_at),
            "revision_number": net.revision_number,
        }
        if net.external:
            doc["is_default"] = a.get("is_default", False)
        if req.auth.is_admin:
            doc["provider:network_type"] = net.provider_network_type
            doc["provider:physical_network"] = net.provider_physical_network
            doc["provider:segmentation_id"] = a.get("provider:segmentation_id")
        return doc

    def list_networks(self, req: Request) -> Response:
        nets = [n for n in self._region(req).networks.values() if self._net_visible(req, n)]
        return self.collection(req, "networks", [self._net_json(req, n) for n in nets],
                               lambda m: nerr(404, "NetworkNotFound",
                                              f"Network {m} could not be found."))

    def get_network(self, req: Request, rid: str) -> Response:
        return self.one(req, "network", self._net_json(req, self._get_network(req, rid)))

    def _apply_network(self, req: Request, net: Network, body: dict[str, Any]) -> None:
        admin = req.auth.is_admin
        a = self._attrs(req, net.id)
        for key in ("shared", "router:external", "provider:network_type",
                    "provider:physical_network", "provider:segmentation_id", "is_default"):
            if key in body and not admin:
                raise policy(f"create_network:{key}" if key != "shared"
                             else "create_network:shared")
        if "name" in body:
            if not isinstance(body["name"], str) or len(body["name"]) > 255:
                raise bad(f"Invalid input for name. Reason: '{body['name']}' is not a valid "
                          "string.")
            net.name = body["name"]
        if "description" in body:
            net.description = str(body["description"])
        if "admin_state_up" in body:
            net.admin_state_up = as_bool(body["admin_state_up"], "admin_state_up")
        if "shared" in body:
            net.shared = as_bool(body["shared"], "shared")
        if "router:external" in body:
            net.external = as_bool(body["router:external"], "router:external")
        if "mtu" in body:
            mtu = body["mtu"]
            if not isinstance(mtu, int) or isinstance(mtu, bool) or not 68 <= mtu <= 9000:
                raise bad(f"Invalid input for mtu. Reason: '{mtu}' is not in range 68 "
                          "through 9000.")
            net.mtu = mtu
        if "provider:network_type" in body:
            if body["provider:network_type"] not in ("flat", "vlan", "vxlan", "geneve",
                                                     "local", "gre"):
                raise nerr(400, "InvalidInput", "Invalid input for operation: network_type "
                                                f"value '{body['provider:network_type']}' not "
                                                "supported.")
            net.provider_network_type = body["provider:network_type"]
        if "provider:physical_network" in body:
            net.provider_physical_network = body["provider:physical_network"]
        for key in ("port_security_enabled", "is_default"):
            if key in body:
                a[key] = as_bool(body[key], key)
        for key in ("dns_domain", "qos_policy_id", "availability_zone_hints",
                    "provider:segmentation_id"):
            if key in body:
                a[key] = body[key]

    def create_network(self, req: Request) -> Response:
        body = self._body(req, "network")
        self._only(body, NETWORK_FIELDS)
        pid = self._target_project(req, body)
        self.check_quota(req, pid, "network")
        region = self._region(req)
        net = Network(id=region.ids.uuid(), name="", project_id=pid, revision_number=1)
        net.provider_network_type = "vxlan" if not req.auth.is_admin else "flat"
        net.provider_physical_network = None if not req.auth.is_admin else "physnet1"
        if not req.auth.is_admin:
            self._attrs(req, net.id)["provider:segmentation_id"] = 1000 + len(region.networks)
        self._apply_network(req, net, body)
        region.networks[net.id] = net
        return self.one(req, "network", self._net_json(req, net), 201)

    def update_network(self, req: Request, rid: str) -> Response:
        net = self._get_network(req, rid)
        self._owner(req, net.project_id, "update_network")
        body = self._body(req, "network")
        self._only(body, NETWORK_FIELDS - {"project_id", "tenant_id"})
        self._apply_network(req, net, body)
        net.updated_at = now()
        net.revision_number += 1
        return self.one(req, "network", self._net_json(req, net))

    def delete_network(self, req: Request, rid: str) -> Response:
        net = self._get_network(req, rid)
        self._owner(req, net.project_id, "delete_network")
        region = self._region(req)
        if any(p.network_id == net.id and p.device_owner != "network:dhcp"
               for p in region.ports.values()):
            raise nerr(409, "NetworkInUse", f"Unable to complete operation on network {net.id}."
                                            " There are one or more ports still in use on the "
                                            "network.")
        for pid in [p.id for p in region.ports.values() if p.network_id == net.id]:
            del region.ports[pid]
        for sid in net.subnet_ids:
            region.subnets.pop(sid, None)
            self._x(req).pools.pop(sid, None)
        del region.networks[net.id]
        self._x(req).attrs.pop(net.id, None)
        return Response(status=204)

    # --- subnets -------------------------------------------------------------------------------

    def _pools(self, req: Request, sub: Subnet) -> list[dict[str, str]]:
        pools = self._x(req).pools.get(sub.id)
        if pools is not None:
            return pools
        net = ipaddress.ip_network(sub.cidr)
        last = net.broadcast_address - 1 if sub.ip_version == 4 else net[-1]
        return [{"start": str(net.network_address + sub.allocation_start), "end": str(last)}]

    def _subnet_json(self, req: Request, sub: Subnet) -> dict[str, Any]:
        a = self._attrs(req, sub.id)
        return {
            "id": sub.id, "name": sub.name, "tenant_id": sub.project_id,
            "project_id": sub.project_id, "network_id": sub.network_id,
            "ip_version": sub.ip_version, "subnetpool_id": None,
            "enable_dhcp": sub.enable_dhcp, "ipv6_ra_mode": a.get("ipv6_ra_mode"),
            "ipv6_address_mode": a.get("ipv6_address_mode"), "gateway_ip": sub.gateway_ip,
            "cidr": sub.cidr, "allocation_pools": self._pools(req, sub),
            "host_routes": list(a.get("host_routes", [])),
            "dns_nameservers": list(sub.dns_nameservers), "description": sub.description,
            "service_types": list(a.get("service_types", [])),
            "tags": sorted(self._x(req).tags.get(sub.id, [])),
            "created_at": ts(sub.created_at), "updated_at": ts(sub.updated_at),
            "revision_number": sub.revision_number,
        }

    def list_subnets(self, req: Request) -> Response:
        subs = [s for s in self._region(req).subnets.values() if self._subnet_visible(req, s)]
        return self.collection(req, "subnets", [self._subnet_json(req, s) for s in subs],
                               lambda m: nerr(404, "SubnetNotFound",
                                              f"Subnet {m} could not be found."))

    def get_subnet(self, req: Request, rid: str) -> Response:
        return self.one(req, "subnet", self._subnet_json(req, self._get_subnet(req, rid)))

    @staticmethod
    def _ip_in(addr: str, name: str, net: Any) -> Any:
        try:
            ip = ipaddress.ip_address(addr)
        except (ValueError, TypeError):
            raise bad(f"Invalid input for {name}. Reason: '{addr}' is not a valid IP address.") \
                from None
        if ip not in net:
            raise bad(f"Invalid input for operation: {name} {addr} is not in subnet "
                      f"{net}.") if name != "gateway_ip" else \
                nerr(400, "InvalidInput", f"Invalid input for operation: Gateway IP {addr} "
                                          f"is not in subnet {net}.")
        return ip

    def _apply_subnet(self, req: Request, sub: Subnet, body: dict[str, Any],
                      net: Any) -> None:
        a = self._attrs(req, sub.id)
        if "name" in body:
            sub.name = str(body["name"])
        if "description" in body:
            sub.description = str(body["description"])
        if "enable_dhcp" in body:
            sub.enable_dhcp = as_bool(body["enable_dhcp"], "enable_dhcp")
        if "gateway_ip" in body:
            gw = body["gateway_ip"]
            sub.gateway_ip = None if gw is None else str(self._ip_in(gw, "gateway_ip", net))
        if "dns_nameservers" in body:
            servers = body["dns_nameservers"]
            if not isinstance(servers, list):
                raise bad("Invalid input for dns_nameservers. Reason: Invalid data format for "
                          "nameserver.")
            for s in servers:
                try:
                    ipaddress.ip_address(s)
                except (ValueError, TypeError):
                    raise bad(f"Invalid input for dns_nameservers. Reason: '{s}' is not a "
                              "valid nameserver.") from None
            sub.dns_nameservers = list(servers)
        if "host_routes" in body:
            routes = body["host_routes"]
            if not isinstance(routes, list) or not all(
                    isinstance(r, dict) and {"destination", "nexthop"} <= set(r)
                    for r in routes):
                raise bad("Invalid input for host_routes. Reason: Invalid data format for "
                          "hostroute.")
            a["host_routes"] = [{"destination": r["destination"], "nexthop": r["nexthop"]}
                                for r in routes]
        if "allocation_pools" in body:
            pools = body["allocation_pools"]
            if not isinstance(pools, list) or not all(
                    isinstance(p, dict) and {"start", "end"} <= set(p) for p in pools):
                raise bad("Invalid input for allocation_pools. Reason: Invalid data format "
                          "for IP pool.")
            for p in pools:
                start = self._ip_in(p["start"], "allocation_pools", net)
                end = self._ip_in(p["end"], "allocation_pools", net)
                if start > end:
                    raise nerr(400, "InvalidAllocationPool",
                               f"The allocation pool {p['start']}-{p['end']} spans beyond "
                               f"the subnet cidr {net}.")
            self._x(req).pools[sub.id] = [{"start": p["start"], "end": p["end"]}
                                          for p in pools]
            if pools:
                sub.allocation_start = int(ipaddress.ip_address(pools[0]["start"])) - \
                    int(net.network_address)
                sub.next_host = sub.allocation_start
        for key in ("ipv6_ra_mode", "ipv6_address_mode", "service_types"):
            if key in body:
                a[key] = body[key]

    def create_subnet(self, req: Request) -> Response:
        body = self._body(req, "subnet")
        self._only(body, SUBNET_FIELDS)
        for key in ("network_id", "ip_version"):
            if key not in body:
                raise bad(f"Failed to parse request. Required attribute '{key}' not "
                          "specified")
        network = self._get_network(req, str(body["network_id"]))
        self._owner(req, network.project_id, "create_subnet")
        if body["ip_version"] not in (4, 6, "4", "6"):
            raise bad(f"Invalid input for ip_version. Reason: {body['ip_version']} is not in "
                      "[4, 6].")
        version = int(body["ip_version"])
        if "cidr" not in body:
            raise bad("Bad subnets request: a subnetpool must be specified in the absence of "
                      "a cidr.")
        try:
            net = ipaddress.ip_network(str(body["cidr"]), strict=False)
        except ValueError:
            raise bad(f"Invalid input for cidr. Reason: '{body['cidr']}' is not a valid IP "
                      "subnet.") from None
        if net.version != version:
            raise bad("Invalid input for operation: cidr and ip_version do not match.")
        region = self._region(req)
        for sid in network.subnet_ids:
            other = region.subnets.get(sid)
            if other is not None and ipaddress.ip_network(other.cidr).overlaps(net):
                raise bad(f"Invalid input for operation: Requested subnet with cidr: {net} "
                          f"for network: {network.id} overlaps with another subnet.")
        pid = self._target_project(req, body)
        self.check_quota(req, pid, "subnet")
        gateway = str(net.network_address + 1) if net.num_addresses > 2 else None
        sub = Subnet(id=region.ids.uuid(), name="", network_id=network.id, project_id=pid,
                     cidr=str(net), gateway_ip=gateway, ip_version=version,
                     allocation_start=2, next_host=2)
        self._apply_subnet(req, sub, body, net)
        region.subnets[sub.id] = sub
        network.subnet_ids.append(sub.id)
        network.updated_at = now()
        network.revision_number += 1
        return self.one(req, "subnet", self._subnet_json(req, sub), 201)

    def update_subnet(self, req: Request, rid: str) -> Response:
        sub = self._get_subnet(req, rid)
        self._owner(req, sub.project_id, "update_subnet")
        body = self._body(req, "subnet")
        self._only(body, SUBNET_FIELDS - {"network_id", "cidr", "ip_version", "project_id",
                                          "tenant_id", "subnetpool_id", "prefixlen"})
        self._apply_subnet(req, sub, body, ipaddress.ip_network(sub.cidr))
        sub.updated_at = now()
        sub.revision_number += 1
        return self.one(req, "subnet", self._subnet_json(req, sub))

    def delete_subnet(self, req: Request, rid: str) -> Response:
        sub = self._get_subnet(req, rid)
        self._owner(req, sub.project_id, "delete_subnet")
        region = self._region(req)
        if any(ip["subnet_id"] == sub.id for p in region.ports.values()
               if p.device_owner != "network:dhcp" for ip in p.fixed_ips):
            raise nerr(409, "SubnetInUse", f"Unable to complete operation on subnet {sub.id}: "
                                           "One or more ports have an IP allocation from this "
                                           "subnet.")
        del region.subnets[sub.id]
        self._x(req).pools.pop(sub.id, None)
        net = region.networks.get(sub.network_id)
        if net is not None and sub.id in net.subnet_ids:
            net.subnet_ids.remove(sub.id)
        return Response(status=204)

    # --- ports ---------------------------------------------------------------------------------

    def _port_json(self, req: Request, port: Port) -> dict[str, Any]:
        a = self._attrs(req, port.id)
        bound = bool(port.binding_host_id)
        doc: dict[str, Any] = {
            "id": port.id, "name": port.name, "network_id": port.network_id,
            "tenant_id": port.project_id, "project_id": port.project_id,
            "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
            "status": port.status, "device_id": port.device_id,
            "device_owner": port.device_owner, "fixed_ips": [dict(ip) for ip in port.fixed_ips],
            "allowed_address_pairs": list(a.get("allowed_address_pairs", [])),
            "extra_dhcp_opts": list(a.get("extra_dhcp_opts", [])),
            "security_groups": self.port_sgs(req, port), "description": a.get("description",
                                                                              ""),
            "binding:vnic_type": a.get("binding:vnic_type", "normal"),
            "port_security_enabled": a.get("port_security_enabled", True),
            "qos_policy_id": a.get("qos_policy_id"), "qos_network_policy_id": None,
            "resource_request": None, "ip_allocation": "immediate",
            "propagate_uplink_status": a.get("propagate_uplink_status", False),
            "tags": sorted(self._x(req).tags.get(port.id, [])),
            "created_at": ts(port.created_at), "updated_at": ts(port.updated_at),
            "revision_number": port.revision_number,
        }
        if req.auth.is_admin:
            doc["binding:host_id"] = port.binding_host_id
            doc["binding:profile"] = dict(a.get("binding:profile", {}))
            doc["binding:vif_type"] = "ovs" if bound else "unbound"
            doc["binding:vif_details"] = {"port_filter": True, "connectivity": "l2",
                                          "ovs_hybrid_plug": False} if bound else {}
        return doc

    def list_ports(self, req: Request) -> Response:
        ports = list(self._region(req).ports.values())
        for key in ("device_id", "network_id", "project_id", "tenant_id"):
            values = req.args(key)
            if values:  # cheap prefilter; the generic filter below re-checks
                attr = "project_id" if key == "tenant_id" else key
                ports = [p for p in ports if getattr(p, attr) in values]
        ports = [p for p in ports if self._port_visible(req, p)]
        return self.collection(req, "ports", [self._port_json(req, p) for p in ports],
                               lambda m: nerr(404, "PortNotFound",
                                              f"Port {m} could not be found."))

    def get_port(self, req: Request, rid: str) -> Response:
        return self.one(req, "port", self._port_json(req, self._get_port(req, rid)))

    def _allocate(self, req: Request, network: Network, wanted: Any,
                  port_id: str | None = None) -> list[dict[str, str]]:
        """Neutron's IPAM: explicit addresses are checked, the rest come from the pools."""
        region = self._region(req)
        if wanted is None:
            wanted = [{"subnet_id": network.subnet_ids[0]}] if network.subnet_ids else []
        if not isinstance(wanted, list):
            raise bad("Invalid input for fixed_ips. Reason: Invalid data format for fixed IP.")
        out = []
        for item in wanted:
            if not isinstance(item, dict) or not set(item) <= {"subnet_id", "ip_address"}:
                raise bad("Invalid input for fixed_ips. Reason: Invalid data format for fixed "
                          "IP.")
            sub_id, addr = item.get("subnet_id"), item.get("ip_address")
            candidates = [region.subnets[s] for s in network.subnet_ids if s in region.subnets]
            if sub_id is not None:
                sub = region.subnets.get(sub_id)
                if sub is None or sub.network_id != network.id:
                    raise bad(f"Invalid input for operation: Failed to create port on network "
                              f"{network.id}, because fixed_ips included invalid subnet "
                              f"{sub_id}.")
                candidates = [sub]
            if not candidates:
                raise bad(f"Invalid input for operation: Failed to create port on network "
                          f"{network.id}: there are no subnets.")
            used = {ip["ip_address"] for p in region.ports.values() if p.id != port_id
                    and p.network_id == network.id for ip in p.fixed_ips}
            if addr is not None:
                sub = next((s for s in candidates
                            if self._contains(s, addr)), None)
                if sub is None:
                    raise nerr(400, "InvalidIpForNetwork" if sub_id is None
                               else "InvalidIpForSubnet",
                               f"IP address {addr} is not a valid IP for the specified "
                               + ("network." if sub_id is None else "subnet."))
                if addr in used:
                    raise nerr(409, "IpAddressAlreadyAllocated",
                               f"IP address {addr} already allocated in subnet {sub.id}")
                out.append({"subnet_id": sub.id, "ip_address": addr})
                continue
            sub = candidates[0]
            out.append({"subnet_id": sub.id, "ip_address": self._next_free(req, sub, used)})
        return out

    @staticmethod
    def _contains(sub: Subnet, addr: str) -> bool:
        try:
            return ipaddress.ip_address(addr) in ipaddress.ip_network(sub.cidr)
        except ValueError:
            return False

    def _next_free(self, req: Request, sub: Subnet, used: set[str]) -> str:
        taken = set(used) | ({sub.gateway_ip} if sub.gateway_ip else set())
        for pool in self._pools(req, sub):
            start = int(ipaddress.ip_address(pool["start"]))
            end = int(ipaddress.ip_address(pool["end"]))
            base = int(ipaddress.ip_network(sub.cidr).network_address)
            first = max(start, base + sub.next_host) if start <= base + sub.next_host <= end \
                else start
            for n in list(range(first, end + 1)) + list(range(start, first)):
                addr = str(ipaddress.ip_address(n))
                if addr not in taken:
                    sub.next_host = n - base + 1
                    return addr
        raise nerr(409, "IpAddressGenerationFailure",
                   f"No more IP addresses available on network {sub.network_id}.")

    def _check_sgs(self, req: Request, groups: Any, project_id: str) -> list[str]:
        if not isinstance(groups, list):
            raise bad("Invalid input for security_groups. Reason: not a list.")
        x = self._x(req)
        out = []
        for g in groups:
            sg = x.security_groups.get(str(g))
            if sg is None:
                sg = next((s for s in x.security_groups.values()
                           if s.name == g and s.project_id == project_id), None)
            if sg is None or not (req.auth.is_admin or sg.project_id == project_id):
                raise nerr(404, "SecurityGroupNotFound", f"Security group {g} does not exist")
            out.append(sg.id)
        return out

    def _apply_port(self, req: Request, port: Port, body: dict[str, Any]) -> None:
        a = self._attrs(req, port.id)
        for key in ADMIN_PORT_FIELDS & set(body):
            if not req.auth.is_admin and key != "mac_address":
                raise policy(f"create_port:{key}")
        if "name" in body:
            port.name = str(body["name"])
        if "description" in body:
            a["description"] = str(body["description"])
        if "admin_state_up" in body:
            port.admin_state_up = as_bool(body["admin_state_up"], "admin_state_up")
        if "device_id" in body:
            port.device_id = str(body["device_id"])
        if "device_owner" in body:
            port.device_owner = str(body["device_owner"])
        if "binding:host_id" in body:
            port.binding_host_id = str(body["binding:host_id"] or "")
        if "security_groups" in body:
            port.security_groups = self._check_sgs(req, body["security_groups"] or [],
                                                   port.project_id)
        if "port_security_enabled" in body:
            a["port_security_enabled"] = as_bool(body["port_security_enabled"],
                                                 "port_security_enabled")
        for key in ("binding:vnic_type", "binding:profile", "allowed_address_pairs",
                    "extra_dhcp_opts", "qos_policy_id", "propagate_uplink_status"):
            if key in body:
                a[key] = body[key]
        if port.device_id and port.binding_host_id:
            port.status = "ACTIVE"
        elif not port.device_id:
            port.status = "DOWN"

    def create_port(self, req: Request) -> Response:
        body = self._body(req, "port")
        self._only(body, PORT_FIELDS)
        if "network_id" not in body:
            raise bad("Failed to parse request. Required attribute 'network_id' not specified")
        network = self._get_network(req, str(body["network_id"]))
        pid = self._target_project(req, body)
        if not req.auth.is_admin and not network.shared and network.project_id != pid:
            raise nerr(404, "NetworkNotFound", f"Network {network.id} could not be found.")
        self.check_quota(req, pid, "port")
        region = self._region(req)
        mac = body.get("mac_address") or region.ids.mac()
        if any(p.mac_address == mac for p in region.ports.values()
               if p.network_id == network.id):
            raise nerr(409, "MacAddressInUse", f"Unable to complete operation for network "
                                               f"{network.id}. The mac address {mac} is in "
                                               "use.")
        fixed = self._allocate(req, network, body.get("fixed_ips"))
        port = Port(id=region.ids.uuid(), network_id=network.id, project_id=pid,
                    mac_address=mac, fixed_ips=fixed, status="DOWN")
        self._apply_port(req, port, body)
        if "security_groups" not in body and not port.device_owner.startswith("network:") \
                and self._attrs(req, port.id).get("port_security_enabled", True):
            port.security_groups = [self.default_sg(req, pid).id]
        region.ports[port.id] = port
        return self.one(req, "port", self._port_json(req, port), 201)

    def update_port(self, req: Request, rid: str) -> Response:
        port = self._get_port(req, rid)
        self._owner(req, port.project_id, "update_port")
        body = self._body(req, "port")
        self._only(body, PORT_FIELDS - {"network_id", "project_id", "tenant_id"})
        if "fixed_ips" in body:
            network = self._region(req).networks[port.network_id]
            port.fixed_ips = self._allocate(req, network, body["fixed_ips"], port.id)
            self._refresh_server(req, port)
        self._apply_port(req, port, body)
        port.updated_at = now()
        port.revision_number += 1
        return self.one(req, "port", self._port_json(req, port))

    def delete_port(self, req: Request, rid: str) -> Response:
        port = self._get_port(req, rid)
        self._owner(req, port.project_id, "delete_port")
        if port.device_owner in (GATEWAY, INTERFACE, FLOATING):
            raise nerr(409, "L3PortInUse", f"Port {port.id} has owner {port.device_owner} and "
                                           "therefore cannot be deleted directly via the port "
                                           "API.")
        region = self._region(req)
        del region.ports[port.id]
        self._x(req).attrs.pop(port.id, None)
        self._x(req).tags.pop(port.id, None)
        self._refresh_server(req, port, removed=True)
        return Response(status=204)

    def _refresh_server(self, req: Request, port: Port, removed: bool = False) -> None:
        """Keep the server's addresses in step, as Nova's network info cache does."""
        region = self._region(req)
        server = region.servers.get(port.device_id) if port.device_id else None
        if server is None:
            return
        if removed and port.id in server.port_ids:
            server.port_ids.remove(port.id)
        server.addresses = region.addresses_for(
            [region.ports[p] for p in server.port_ids if p in region.ports])
