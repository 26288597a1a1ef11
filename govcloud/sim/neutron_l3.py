"""Neutron's L3: routers (external gateway, interfaces) and floating IPs (allocated on an
external network, associated with a port through a router).

Fields and errors follow neutron/db/l3_db.py and neutron-lib's l3 exceptions with the router
service plugin of a ML2 deployment (``router``, ``ext-gw-mode``, ``extraroute``, ``dvr``,
``l3-ha``, ``router_availability_zone``, ``l3-flavors``, ``fip-port-details``): a gateway
takes a port (``network:router_gateway``) and an address on the external network, an
interface a port (``network:router_interface``) holding the subnet's gateway IP, a floating
IP a port (``network:floatingip``) on the external network. A floating IP can be associated
only with a port whose subnet a router connects to the floating IP's network (Neutron's 404
``ExternalGatewayForFloatingIPNotFound`` otherwise); the server behind the port then shows the
address in Nova as ``OS-EXT-IPS:type: floating``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from govcloud.sim.http import ApiError, Request, Response, json_response
from govcloud.sim.model import Network, Port, now
from govcloud.sim.neutron_base import NeutronBase, as_bool, bad, nerr, policy, ts
from govcloud.sim.state import Cloud, RegionState

ROUTER_FIELDS = {"name", "admin_state_up", "description", "external_gateway_info",
                 "project_id", "tenant_id", "availability_zone_hints", "distributed", "ha",
                 "flavor_id", "routes"}
FIP_FIELDS = {"floating_network_id", "port_id", "fixed_ip_address", "floating_ip_address",
              "subnet_id", "description", "project_id", "tenant_id", "dns_name",
              "dns_domain", "qos_policy_id"}
GATEWAY = "network:router_gateway"
INTERFACE = "network:router_interface"
FLOATING = "network:floatingip"



def _bad(resource: str, msg: str) -> ApiError:
    """neutron-lib's BadRequest: ``Bad <resource> request: <msg>.``"""
    return nerr(400, "BadRequest", f"Bad {resource} request: {msg}.")


@dataclass
class Router:
    id: str
    name: str
    project_id: str
    admin_state_up: bool = True
    description: str = ""
    gw_port_id: str | None = None
    enable_snat: bool = True
    interface_ports: list[str] = field(default_factory=list)
    routes: list[dict[str, str]] = field(default_factory=list)
    availability_zone_hints: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created_at: Any = field(default_factory=now)
    updated_at: Any = field(default_factory=now)
    revision_number: int = 0


@dataclass
class FloatingIP:
    id: str
    project_id: str
    floating_network_id: str
    floating_ip_address: str
    floating_port_id: str
    port_id: str | None = None
    fixed_ip_address: str | None = None
    router_id: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    created_at: Any = field(default_factory=now)
    updated_at: Any = field(default_factory=now)
    revision_number: int = 0


@dataclass
class L3State:
    routers: dict[str, Router] = field(default_factory=dict)
    fips: dict[str, FloatingIP] = field(default_factory=dict)


class L3Mixin(NeutronBase):
    def __init__(self, cloud: Cloud) -> None:
        super().__init__(cloud)
        self.l3_states: dict[str, L3State] = {}

    def _l3(self, req: Request) -> L3State:
        return self.l3_states.setdefault(req.region or "", L3State())

    def quota_usage(self, req: Request, project_id: str) -> dict[str, int]:
        return {**super().quota_usage(req, project_id), **self.l3_quota_usage(req, project_id)}

    def _allocate(self, req: Request, network: Network, wanted: Any,
                  port_id: str | None = None) -> list[dict[str, str]]:
        raise NotImplementedError  # Neutron's IPAM lives in NeutronAPI

    def _router_port(self, req: Request, network: Network, *, owner: str, device_id: str,
                     project_id: str, fixed_ips: list[dict[str, str]]) -> Port:
        region = self._region(req)
        port = Port(id=region.ids.uuid(), network_id=network.id, project_id=project_id,
                    mac_address=region.ids.mac(), fixed_ips=fixed_ips, device_id=device_id,
                    device_owner=owner, status="ACTIVE", binding_host_id="")
        region.ports[port.id] = port
        return port

    def l3_quota_usage(self, req: Request, project_id: str) -> dict[str, int]:
        s = self._l3(req)
        return {"router": sum(1 for r in s.routers.values() if r.project_id == project_id),
                "floatingip": sum(1 for f in s.fips.values() if f.project_id == project_id)}

    # --- routers ---------------------------------------------------------------------------

    def _router_json(self, req: Request, r: Router) -> dict[str, Any]:
        region = self._region(req)
        gw = region.ports.get(r.gw_port_id or "")
        doc: dict[str, Any] = {
            "id": r.id, "name": r.name, "tenant_id": r.project_id, "project_id": r.project_id,
            "admin_state_up": r.admin_state_up, "status": "ACTIVE",
            "external_gateway_info": None if gw is None else {
                "network_id": gw.network_id, "enable_snat": r.enable_snat,
                "external_fixed_ips": [{"subnet_id": ip["subnet_id"],
                                        "ip_address": ip["ip_address"]}
                                       for ip in gw.fixed_ips]},
            "description": r.description, "routes": [dict(x) for x in r.routes],
            "availability_zone_hints": list(r.availability_zone_hints),
            "availability_zones": list(region.zones[:1]) if gw is not None else [],
            "flavor_id": None, "tags": sorted(r.tags),
            "created_at": ts(r.created_at), "updated_at": ts(r.updated_at),
            "revision_number": r.revision_number,
        }
        if req.auth.is_admin:
            doc["distributed"] = False
            doc["ha"] = False
        return doc

    def _get_router(self, req: Request, router_id: str) -> Router:
        r = self._l3(req).routers.get(router_id)
        if r is None or not (req.auth.is_admin or r.project_id == self._project(req)):
            raise nerr(404, "RouterNotFound", f"Router {router_id} could not be found")
        return r

    def list_routers(self, req: Request) -> Response:
        rows = [self._router_json(req, r) for r in self._l3(req).routers.values()
                if req.auth.is_admin or r.project_id == self._project(req)]
        return self.collection(req, "routers", rows, lambda m: nerr(
            404, "RouterNotFound", f"Router {m} could not be found"))

    def get_router(self, req: Request, router_id: str) -> Response:
        return self.one(req, "router", self._router_json(req, self._get_router(req, router_id)))

    def _set_gateway(self, req: Request, r: Router, info: Any) -> None:
        region = self._region(req)
        if info is not None and not isinstance(info, dict):
            raise bad("Invalid input for external_gateway_info. Reason: Validation of "
                      f"dictionary's keys failed. Expected keys: {{'network_id'}} Provided "
                      f"keys: {info!r}.")
        new_net = info.get("network_id") if info else None
        current = region.ports.get(r.gw_port_id or "")
        if current is not None and current.network_id != new_net:
            if any(f.router_id == r.id for f in self._l3(req).fips.values()):
                raise nerr(409, "RouterExternalGatewayInUseByFloatingIp",
                           f"Gateway cannot be updated for router {r.id}, since a gateway to "
                           f"external network {current.network_id} is required by one or more "
                           "floating IPs.")
            region.ports.pop(current.id, None)
            r.gw_port_id = None
        if info and "enable_snat" in info:
            if not req.auth.is_admin:
                raise policy("update_router:external_gateway_info:enable_snat")
            r.enable_snat = as_bool(info["enable_snat"], "enable_snat")
        if not new_net or r.gw_port_id is not None:
            return
        net = region.networks.get(str(new_net))
        if net is None:
            raise nerr(404, "NetworkNotFound", f"Network {new_net} could not be found.")
        if not net.external:
            raise _bad("router", f"Network {net.id} is not an external network")
        wanted = (info or {}).get("external_fixed_ips")
        if wanted is not None and not req.auth.is_admin:
            raise policy("create_router:external_gateway_info:external_fixed_ips")
        fixed = self._allocate(req, net, wanted)
        r.gw_port_id = self._router_port(req, net, owner=GATEWAY, device_id=r.id,
                                         project_id="", fixed_ips=fixed).id

    def create_router(self, req: Request) -> Response:
        body = self._body(req, "router")
        self._only(body, ROUTER_FIELDS)
        pid = self._target_project(req, body)
        for key in ("distributed", "ha"):
            if key in body and not req.auth.is_admin:
                raise policy(f"create_router:{key}")
        if self.l3_quota_usage(req, pid)["router"] + 1 > \
                self._region(req).network_quota(pid).get("router", -1) >= 0:
            raise nerr(409, "OverQuota", "Quota exceeded for resources: ['router'].")
        r = Router(id=self._region(req).ids.uuid(), name=str(body.get("name", "")),
                   project_id=pid, description=str(body.get("description", "")))
        if "admin_state_up" in body:
            r.admin_state_up = as_bool(body["admin_state_up"], "admin_state_up")
        hints = body.get("availability_zone_hints", [])
        if not isinstance(hints, list) or any(z not in self._region(req).zones for z in hints):
            raise nerr(404, "AvailabilityZoneNotFound",
                       f"AvailabilityZone {hints} could not be found.")
        r.availability_zone_hints = list(hints)
        self._set_gateway(req, r, body.get("external_gateway_info"))
        self._l3(req).routers[r.id] = r
        return self.one(req, "router", self._router_json(req, r), 201)

    def update_router(self, req: Request, router_id: str) -> Response:
        r = self._get_router(req, router_id)
        self._owner(req, r.project_id, "update_router")
        body = self._body(req, "router")
        self._only(body, ROUTER_FIELDS - {"project_id", "tenant_id", "availability_zone_hints"})
        if "name" in body:
            r.name = str(body["name"])
        if "description" in body:
            r.description = str(body["description"])
        if "admin_state_up" in body:
            r.admin_state_up = as_bool(body["admin_state_up"], "admin_state_up")
        if "routes" in body:
            routes = body["routes"] or []
            if not isinstance(routes, list) or not all(
                    isinstance(x, dict) and set(x) == {"destination", "nexthop"}
                    for x in routes):
                raise bad("Invalid input for routes. Reason: Invalid data format for "
                          "hostroute.")
            r.routes = [dict(x) for x in routes]
        if "external_gateway_info" in body:
            self._set_gateway(req, r, body["external_gateway_info"])
        r.updated_at = now()
        r.revision_number += 1
        return self.one(req, "router", self._router_json(req, r))

    def delete_router(self, req: Request, router_id: str) -> Response:
        r = self._get_router(req, router_id)
        self._owner(req, r.project_id, "delete_router")
        region = self._region(req)
        if [p for p in r.interface_ports if p in region.ports]:
            raise nerr(409, "RouterInUse", f"Router {r.id} still has ports")
        if any(f.router_id == r.id for f in self._l3(req).fips.values()):
            raise nerr(409, "RouterInUse", f"Router {r.id} still has ports")
        if r.gw_port_id:
            region.ports.pop(r.gw_port_id, None)
        del self._l3(req).routers[r.id]
        return Response(status=204)

    def _interface_info(self, r: Router, port: Port) -> dict[str, Any]:
        subnets = [ip["subnet_id"] for ip in port.fixed_ips]
        return {"id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
                "port_id": port.id, "network_id": port.network_id,
                "subnet_id": subnets[0] if subnets else None, "subnet_ids": subnets}

    def _interface_body(self, req: Request) -> dict[str, Any]:
        try:
            body = req.json()
        except ApiError:
            raise bad("Body contains invalid data") from None
        if not isinstance(body, dict) or not ({"subnet_id", "port_id"} & set(body)):
            raise _bad("router", "Either subnet_id or port_id must be specified")
        if "subnet_id" in body and "port_id" in body:
            raise _bad("router", "Cannot specify both subnet-id and port-id")
        return body

    def add_router_interface(self, req: Request, router_id: str) -> Response:
        r = self._get_router(req, router_id)
        self._owner(req, r.project_id, "add_router_interface")
        body = self._interface_body(req)
        region = self._region(req)
        attached = {ip["subnet_id"] for p in r.interface_ports if p in region.ports
                    for ip in region.ports[p].fixed_ips}
        if "port_id" in body:
            port = self._get_port(req, str(body["port_id"]))
            if port.device_id:
                raise nerr(409, "PortInUse", f"Unable to complete operation on port {port.id} "
                                             f"for network {port.network_id}. Port already "
                                             f"has an attached device {port.device_id}.")
            for ip in port.fixed_ips:
                if ip["subnet_id"] in attached:
                    raise _bad("router", f"Router already has a port on subnet "
                                         f"{ip['subnet_id']}")
            port.device_id, port.device_owner, port.status = r.id, INTERFACE, "ACTIVE"
        else:
            sub = self._get_subnet(req, str(body["subnet_id"]))
            if not sub.gateway_ip:
                raise _bad("router", "Subnet for router interface must have a gateway IP")
            if sub.id in attached:
                raise _bad("router", f"Router already has a port on subnet {sub.id}")
            net = region.networks[sub.network_id]
            if net.external:
                raise _bad("router", "Router port must have at least one fixed IP")
            used = {ip["ip_address"] for p in region.ports.values()
                    if p.network_id == net.id for ip in p.fixed_ips}
            if sub.gateway_ip in used:
                raise nerr(409, "IpAddressInUse", f"Unable to complete operation for network "
                                                  f"{net.id}. The IP address "
                                                  f"{sub.gateway_ip} is in use.")
            port = self._router_port(req, net, owner=INTERFACE, device_id=r.id,
                                     project_id=r.project_id,
                                     fixed_ips=[{"subnet_id": sub.id,
                                                 "ip_address": sub.gateway_ip}])
        r.interface_ports.append(port.id)
        r.updated_at = now()
        r.revision_number += 1
        return json_response(self._interface_info(r, port))

    def remove_router_interface(self, req: Request, router_id: str) -> Response:
        r = self._get_router(req, router_id)
        self._owner(req, r.project_id, "remove_router_interface")
        body = self._interface_body(req)
        region = self._region(req)
        ports = [region.ports[p] for p in r.interface_ports if p in region.ports]
        if "port_id" in body:
            port = next((p for p in ports if p.id == body["port_id"]), None)
            if port is None:
                raise nerr(404, "RouterInterfaceNotFound",
                           f"Router {r.id} does not have an interface with id "
                           f"{body['port_id']}")
        else:
            port = next((p for p in ports
                         if any(ip["subnet_id"] == body["subnet_id"] for ip in p.fixed_ips)),
                        None)
            if port is None:
                raise nerr(404, "RouterInterfaceNotFoundForSubnet",
                           f"Router {r.id} has no interface on subnet {body['subnet_id']}")
        subnets = {ip["subnet_id"] for ip in port.fixed_ips}
        for f in self._l3(req).fips.values():
            fixed = region.ports.get(f.port_id or "")
            if f.router_id == r.id and fixed is not None and \
                    subnets & {ip["subnet_id"] for ip in fixed.fixed_ips}:
                sub = next(iter(subnets))
                raise nerr(409, "RouterInterfaceInUseByFloatingIP",
                           f"Router interface for subnet {sub} on router {r.id} cannot be "
                           "deleted, as it is required by one or more floating IPs.")
        info = self._interface_info(r, port)
        r.interface_ports.remove(port.id)
        region.ports.pop(port.id, None)
        r.updated_at = now()
        r.revision_number += 1
        return json_response(info)

    # --- floating IPs ----------------------------------------------------------------------

    def _fip_sync(self, region: RegionState, f: FloatingIP) -> None:
        """A floating IP whose port went away (its server deleted) is disassociated, as
        Neutron does when the port is deleted."""
        if f.port_id and f.port_id not in region.ports:
            f.port_id = f.fixed_ip_address = f.router_id = None

    def _fip_json(self, req: Request, f: FloatingIP) -> dict[str, Any]:
        region = self._region(req)
        self._fip_sync(region, f)
        port = region.ports.get(f.port_id or "")
        return {
            "id": f.id, "tenant_id": f.project_id, "project_id": f.project_id,
            "floating_ip_address": f.floating_ip_address,
            "floating_network_id": f.floating_network_id, "router_id": f.router_id,
            "port_id": f.port_id, "fixed_ip_address": f.fixed_ip_address,
            "status": "ACTIVE" if f.port_id else "DOWN", "description": f.description,
            "port_details": None if port is None else {
                "name": port.name, "network_id": port.network_id,
                "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
                "status": port.status, "device_id": port.device_id,
                "device_owner": port.device_owner},
            "tags": sorted(f.tags), "created_at": ts(f.created_at),
            "updated_at": ts(f.updated_at), "revision_number": f.revision_number,
        }

    def _get_fip(self, req: Request, fip_id: str) -> FloatingIP:
        f = self._l3(req).fips.get(fip_id)
        if f is None or not (req.auth.is_admin or f.project_id == self._project(req)):
            raise nerr(404, "FloatingIPNotFound", f"Floating IP {fip_id} could not be found")
        return f

    def list_fips(self, req: Request) -> Response:
        rows = [self._fip_json(req, f) for f in self._l3(req).fips.values()
                if req.auth.is_admin or f.project_id == self._project(req)]
        return self.collection(req, "floatingips", rows, lambda m: nerr(
            404, "FloatingIPNotFound", f"Floating IP {m} could not be found"))

    def get_fip(self, req: Request, fip_id: str) -> Response:
        return self.one(req, "floatingip", self._fip_json(req, self._get_fip(req, fip_id)))

    def _associate(self, req: Request, f: FloatingIP, port_id: Any,
                   fixed_address: Any) -> None:
        region = self._region(req)
        old = region.ports.get(f.port_id or "")
        if old is not None and f.floating_ip_address in old.floating_ips:
            old.floating_ips.remove(f.floating_ip_address)
            self._refresh_addresses(region, old)
        f.port_id = f.fixed_ip_address = f.router_id = None
        if not port_id:
            return
        port = self._get_port(req, str(port_id))
        if not req.auth.is_admin and port.project_id != f.project_id:
            raise nerr(404, "PortNotFound", f"Port {port.id} could not be found.")
        ips = [ip for ip in port.fixed_ips if ":" not in ip["ip_address"]]
        if fixed_address is not None:
            ips = [ip for ip in ips if ip["ip_address"] == fixed_address]
            if not ips:
                raise _bad("floatingip", f"Port {port.id} does not have fixed ip "
                                         f"{fixed_address}")
        if not ips:
            raise _bad("floatingip", f"Port {port.id} does not have any IPv4 address")
        ip = ips[0]
        for other in self._l3(req).fips.values():
            if other.id != f.id and other.port_id == port.id and \
                    other.fixed_ip_address == ip["ip_address"] and \
                    other.floating_network_id == f.floating_network_id:
                raise nerr(409, "FloatingIPPortAlreadyAssociated",
                           f"Cannot associate floating IP {f.floating_ip_address} ({f.id}) "
                           f"with port {port.id} using fixed IP {ip['ip_address']}, as that "
                           "fixed IP already has a floating IP on external network "
                           f"{f.floating_network_id}.")
        router = self._router_for(req, f.floating_network_id, ip["subnet_id"])
        if router is None:
            raise nerr(404, "ExternalGatewayForFloatingIPNotFound",
                       f"External network {f.floating_network_id} is not reachable from "
                       f"subnet {ip['subnet_id']}.  Therefore, cannot associate Port "
                       f"{port.id} with a Floating IP.")
        f.port_id, f.fixed_ip_address, f.router_id = port.id, ip["ip_address"], router.id
        port.floating_ips.append(f.floating_ip_address)
        self._refresh_addresses(region, port)

    @staticmethod
    def _refresh_addresses(region: RegionState, port: Port) -> None:
        server = region.servers.get(port.device_id) if port.device_id else None
        if server is not None:
            server.addresses = region.addresses_for(
                [region.ports[p] for p in server.port_ids if p in region.ports])

    def _router_for(self, req: Request, ext_net: str, subnet_id: str) -> Router | None:
        region = self._region(req)
        for r in self._l3(req).routers.values():
            gw = region.ports.get(r.gw_port_id or "")
            if gw is None or gw.network_id != ext_net:
                continue
            if any(ip["subnet_id"] == subnet_id for p in r.interface_ports
                   if p in region.ports for ip in region.ports[p].fixed_ips):
                return r
        return None

    def create_fip(self, req: Request) -> Response:
        body = self._body(req, "floatingip")
        self._only(body, FIP_FIELDS)
        if "floating_network_id" not in body:
            raise bad("Failed to parse request. Required attribute 'floating_network_id' not "
                      "specified")
        pid = self._target_project(req, body)
        region = self._region(req)
        net = region.networks.get(str(body["floating_network_id"]))
        if net is None:
            raise nerr(404, "NetworkNotFound",
                       f"Network {body['floating_network_id']} could not be found.")
        if not net.external:
            raise _bad("floatingip", f"Network {net.id} is not a valid external network")
        if self.l3_quota_usage(req, pid)["floatingip"] + 1 > \
                region.network_quota(pid).get("floatingip", -1) >= 0:
            raise nerr(409, "OverQuota", "Quota exceeded for resources: ['floatingip'].")
        wanted: list[dict[str, str]] | None = None
        if body.get("floating_ip_address") or body.get("subnet_id"):
            if body.get("floating_ip_address") and not req.auth.is_admin:
                raise policy("create_floatingip:floating_ip_address")
            item = {}
            if body.get("subnet_id"):
                item["subnet_id"] = str(body["subnet_id"])
            if body.get("floating_ip_address"):
                item["ip_address"] = str(body["floating_ip_address"])
            wanted = [item]
        try:
            fixed = self._allocate(req, net, wanted)
        except ApiError as exc:
            if exc.kind == "IpAddressGenerationFailure":
                raise nerr(409, "ExternalIpAddressExhausted",
                           f"Unable to find any IP address on external network {net.id}.") \
                    from None
            raise
        fid = region.ids.uuid()
        port = self._router_port(req, net, owner=FLOATING, device_id=fid, project_id="",
                                 fixed_ips=fixed)
        port.status = "N/A"
        f = FloatingIP(id=fid, project_id=pid, floating_network_id=net.id,
                       floating_ip_address=fixed[0]["ip_address"], floating_port_id=port.id,
                       description=str(body.get("description", "")))
        self._associate(req, f, body.get("port_id"), body.get("fixed_ip_address"))
        self._l3(req).fips[f.id] = f
        return self.one(req, "floatingip", self._fip_json(req, f), 201)

    def update_fip(self, req: Request, fip_id: str) -> Response:
        f = self._get_fip(req, fip_id)
        self._owner(req, f.project_id, "update_floatingip")
        body = self._body(req, "floatingip")
        self._only(body, {"port_id", "fixed_ip_address", "description", "qos_policy_id"})
        if "port_id" in body:
            self._associate(req, f, body["port_id"], body.get("fixed_ip_address"))
        if "description" in body:
            f.description = str(body["description"])
        f.updated_at = now()
        f.revision_number += 1
        return self.one(req, "floatingip", self._fip_json(req, f))

    def delete_fip(self, req: Request, fip_id: str) -> Response:
        f = self._get_fip(req, fip_id)
        self._owner(req, f.project_id, "delete_floatingip")
        self._associate(req, f, None, None)
        self._region(req).ports.pop(f.floating_port_id, None)
        del self._l3(req).fips[f.id]
        return Response(status=204)
