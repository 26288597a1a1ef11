"""Neutron security groups and rules, quotas, tags, extensions, subnet pools (empty) and
availability zones (see neutron.py; routers, floating IPs and agents are in neutron_l3.py)."""

from __future__ import annotations

import ipaddress
from typing import Any

from govcloud.sim.http import ApiError, Request, Response, json_response
from govcloud.sim.model import Network, now
from govcloud.sim.neutron_base import (
    NeutronBase,
    SecurityGroup,
    as_bool,
    bad,
    nerr,
    policy,
    ts,
)

EXTENSIONS = (
    ("quotas", "Quota management support", "Expose functions for quotas management per "
                                           "tenant"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
                                                           "usage statistics per project"),
    ("security-group", "security-group", "The security groups extension."),
    ("port-security", "Port Security", "Provides port security"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    ("binding-extended", "Port Bindings Extended", "Expose port bindings of a virtual port to "
                                                   "external application"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
                                     "networks"),
    ("external-net", "Neutron external network", "Adds external network attribute to network "
                                                 "resource."),
    ("network-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support "
                                                                "for network."),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("standard-attr-description", "standard-attr-description", "Extension to add "
                                                                "descriptions to standard "
                                                                "attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display "
                                                              "the revision number of neutron "
                                                              "resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at "
                                                        "fields to all Neutron resources "
                                                        "that have Neutron standard "
                                                        "attributes."),
    ("standard-attr-tag", "Tag support for resources with standard attribute", "Enables to "
                                                                               "set tag on "
                                                                               "resources "
                                                                               "with standard"
                                                                               " attribute."),
    ("tag-creation", "Tag creation extension", "Allow to add tags during resource "
                                               "creation or to several at once"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
                                               "field is enabled."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is "
                                         "enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("filter-validation", "Filter parameters validation", "Provides validation on filtering "
                                                          "parameters."),
    ("fields", "fields", "Extension that indicates support for the fields query parameter"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("stateful-security-group", "Stateful security group", "Indicates if the security group "
                                                           "is stateful or not"),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
                                    "Neutron networks and access to external networks via a "
                                    "NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the "
                                                                      "router abstraction for "
                                                                      "specifying whether SNAT "
                                                                      "should occur on the "
                                                                      "external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("dvr", "Distributed Virtual Router", "Enables configuration of Distributed Virtual "
                                          "Routers."),
    ("l3-ha", "HA Router extension", "Adds HA capability to routers."),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support for "
                                                             "router."),
    ("l3-flavors", "Router Flavor Extension", "Flavor support for routers."),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to "
                                                               "Floating IP resource"),
    ("agent", "agent", "The agent management extension."),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler", "Schedule networks among dhcp agents"),
    ("l3_agent_scheduler", "L3 Agent Scheduler", "Schedule routers among l3 agents"),
)

SG_FIELDS = {"name", "description", "project_id", "tenant_id", "stateful"}
RULE_FIELDS = {"security_group_id", "direction", "ethertype", "protocol", "port_range_min",
               "port_range_max", "remote_ip_prefix", "remote_group_id", "description",
               "project_id", "tenant_id", "remote_address_group_id"}
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "any": None}


class ExtraMixin(NeutronBase):
    # --- extensions --------------------------------------------------------------------------

    @staticmethod
    def _ext(alias: str, name: str, description: str) -> dict[str, Any]:
        return {"alias": alias, "name": name, "description": description,
                "updated": "2013-01-01T00:00:00-00:00", "links": []}

    def list_extensions(self, req: Request) -> Response:
        return json_response({"extensions": [self._ext(*e) for e in EXTENSIONS]})

    def get_extension(self, req: Request, alias: str) -> Response:
        for e in EXTENSIONS:
            if e[0] == alias:
                return json_response({"extension": self._ext(*e)})
        raise nerr(404, "HTTPNotFound", f"Extension with alias {alias} does not exist")

    # --- security groups -----------------------------------------------------------------------

    def _sg_json(self, req: Request, sg: SecurityGroup) -> dict[str, Any]:
        return {"id": sg.id, "name": sg.name, "description": sg.description,
                "project_id": sg.project_id, "tenant_id": sg.project_id,
                "stateful": sg.stateful, "shared": False,
                "security_group_rules": [dict(r) for r in sg.rules],
                "tags": sorted(self._x(req).tags.get(sg.id, [])),
                "created_at": ts(sg.created_at), "updated_at": ts(sg.updated_at),
                "revision_number": sg.revision_number}

    def _get_sg(self, req: Request, sg_id: str) -> SecurityGroup:
        sg = self._x(req).security_groups.get(sg_id)
        if sg is None or not (req.auth.is_admin or sg.project_id == self._project(req)):
            raise nerr(404, "SecurityGroupNotFound", f"Security group {sg_id} does not exist")
        return sg

    def list_sgs(self, req: Request) -> Response:
        if req.auth.project_id:
            self.default_sg(req, req.auth.project_id)
        sgs = [sg for sg in self._x(req).security_groups.values()
               if req.auth.is_admin or sg.project_id == self._project(req)]
        return self.collection(req, "security_groups", [self._sg_json(req, sg) for sg in sgs],
                               lambda m: nerr(404, "SecurityGroupNotFound",
                                              f"Security group {m} does not exist"))

    def get_sg(self, req: Request, rid: str) -> Response:
        return self.one(req, "security_group", self._sg_json(req, self._get_sg(req, rid)))

    def create_sg(self, req: Request) -> Response:
        body = self._body(req, "security_group")
        self._only(body, SG_FIELDS)
        pid = self._target_project(req, body)
        name = body.get("name", "")
        if name == "default":
            raise nerr(409, "SecurityGroupDefaultAlreadyExists",
                       "Default security group already exists.")
        self.default_sg(req, pid)
        self.check_quota(req, pid, "security_group")
        sg = SecurityGroup(id=self._region(req).ids.uuid(), name=str(name), project_id=pid,
                           description=str(body.get("description", "")),
                           stateful=as_bool(body.get("stateful", True), "stateful"))
        for eth in ("IPv4", "IPv6"):
            sg.rules.append(self._rule(req, sg, direction="egress", ethertype=eth))
        self._x(req).security_groups[sg.id] = sg
        return self.one(req, "security_group", self._sg_json(req, sg), 201)

    def update_sg(self, req: Request, rid: str) -> Response:
        sg = self._get_sg(req, rid)
        body = self._body(req, "security_group")
        self._only(body, {"name", "description", "stateful"})
        if sg.name == "default" and body.get("name", "default") != "default":
            raise nerr(409, "SecurityGroupCannotUpdateDefault",
                       "Updating default security group not allowed.")
        if "name" in body:
            sg.name = str(body["name"])
        if "description" in body:
            sg.description = str(body["description"])
        if "stateful" in body:
            sg.stateful = as_bool(body["stateful"], "stateful")
        sg.updated_at = now()
        sg.revision_number += 1
        return self.one(req, "security_group", self._sg_json(req, sg))

    def delete_sg(self, req: Request, rid: str) -> Response:
        sg = self._get_sg(req, rid)
        if sg.name == "default" and not req.auth.is_admin:
            raise nerr(409, "SecurityGroupCannotRemoveDefault",
                       "Removing default security group not allowed.")
        if any(sg.id in self.port_sgs(req, p) for p in self._region(req).ports.values()
               if p.project_id == sg.project_id):
            raise nerr(409, "SecurityGroupInUse",
                       f"Security Group {sg.id} in use.")
        del self._x(req).security_groups[sg.id]
        self._x(req).tags.pop(sg.id, None)
        return Response(status=204)

    def _all_rules(self, req: Request) -> list[dict[str, Any]]:
        return [r for sg in self._x(req).security_groups.values()
                if req.auth.is_admin or sg.project_id == self._project(req) for r in sg.rules]

    def list_rules(self, req: Request) -> Response:
        if req.auth.project_id:
            self.default_sg(req, req.auth.project_id)
        return self.collection(req, "security_group_rules",
                               [dict(r) for r in self._all_rules(req)],
                               lambda m: nerr(404, "SecurityGroupRuleNotFound",
                                              f"Security group rule {m} does not exist"))

    def get_rule(self, req: Request, rid: str) -> Response:
        for r in self._all_rules(req):
            if r["id"] == rid:
                return self.one(req, "security_group_rule", dict(r))
        raise nerr(404, "SecurityGroupRuleNotFound",
                   f"Security group rule {rid} does not exist")

    def create_rule(self, req: Request) -> Response:
        body = self._body(req, "security_group_rule")
        self._only(body, RULE_FIELDS)
        sg_id = body.get("security_group_id")
        if not sg_id:
            raise bad("Failed to parse request. Required attribute 'security_group_id' not "
                      "specified")
        sg = self._get_sg(req, str(sg_id))
        direction = body.get("direction")
        if direction not in ("ingress", "egress"):
            raise bad(f"Invalid input for direction. Reason: {direction} is not in "
                      "['ingress', 'egress'].")
        ethertype = body.get("ethertype", "IPv4")
        if ethertype not in ("IPv4", "IPv6"):
            raise bad(f"Invalid input for ethertype. Reason: {ethertype} is not in "
                      "['IPv4', 'IPv6'].")
        protocol = body.get("protocol")
        if protocol is not None and str(protocol).lower() not in PROTOCOLS and \
                not str(protocol).isdigit():
            raise nerr(400, "SecurityGroupRuleInvalidProtocol",
                       f"Security group rule protocol {protocol} not supported. Only protocol "
                       "values [None, 'tcp', 'udp', 'icmp', 'icmpv6'] and integer "
                       "representations [0 to 255] are supported.")
        pmin, pmax = body.get("port_range_min"), body.get("port_range_max")
        for v in (pmin, pmax):
            if v is not None and (not isinstance(v, int) or not 0 <= v <= 65535):
                raise nerr(400, "SecurityGroupInvalidPortValue",
                           f"Invalid value for port {v}.")
        if pmin is not None and pmax is not None and pmin > pmax:
            raise nerr(400, "SecurityGroupInvalidPortRange",
                       "For TCP/UDP protocols, port_range_min must be <= port_range_max")
        prefix = body.get("remote_ip_prefix")
        if prefix is not None:
            try:
                ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise bad(f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a "
                          "valid IP subnet.") from None
        if prefix is not None and body.get("remote_group_id"):
            raise nerr(400, "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                       "Only remote_ip_prefix or remote_group_id may be provided.")
        for r in sg.rules:
            if (r["direction"], r["ethertype"], r["protocol"], r["port_range_min"],
                    r["port_range_max"], r["remote_ip_prefix"], r["remote_group_id"]) == \
                    (direction, ethertype, protocol, pmin, pmax, prefix,
                     body.get("remote_group_id")):
                raise nerr(409, "SecurityGroupRuleExists",
                           f"Security group rule already exists. Rule id is {r['id']}.")
        self.check_quota(req, sg.project_id, "security_group_rule")
        rule = self._rule(req, sg, direction=direction, ethertype=ethertype,
                          remote_group_id=body.get("remote_group_id"), protocol=protocol,
                          port_min=pmin, port_max=pmax, remote_ip_prefix=prefix,
                          description=str(body.get("description", "")))
        sg.rules.append(rule)
        sg.revision_number += 1
        return self.one(req, "security_group_rule", dict(rule), 201)

    def delete_rule(self, req: Request, rid: str) -> Response:
        for sg in self._x(req).security_groups.values():
            if not (req.auth.is_admin or sg.project_id == self._project(req)):
                continue
            for r in sg.rules:
                if r["id"] == rid:
                    sg.rules.remove(r)
                    sg.revision_number += 1
                    return Response(status=204)
        raise nerr(404, "SecurityGroupRuleNotFound",
                   f"Security group rule {rid} does not exist")

    # --- quotas ----------------------------------------------------------------------------------

    def _quota_target(self, req: Request, project_id: str) -> None:
        if not req.auth.is_admin and project_id != self._project(req):
            raise nerr(403, "HTTPForbidden",
                       "Non-admin is not authorized to access quotas for another project")

    @staticmethod
    def _quota_json(values: dict[str, int], project_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = dict(values)
        if project_id is not None:
            out["project_id"] = project_id
            out["tenant_id"] = project_id
        return out

    def list_quotas(self, req: Request) -> Response:
        if not req.auth.is_admin:
            raise policy("get_quota")
        region = self._region(req)
        return json_response({"quotas": [
            self._quota_json(region.network_quota(pid), pid)
            for pid in region.network_quotas]})

    def get_quota(self, req: Request, project_id: str) -> Response:
        self._quota_target(req, project_id)
        return json_response({"quota": self._region(req).network_quota(project_id)})

    def quota_default(self, req: Request, project_id: str) -> Response:
        self._quota_target(req, project_id)
        return json_response({"quota": dict(self._region(req).network_quota_defaults)})

    def quota_details(self, req: Request, project_id: str) -> Response:
        self._quota_target(req, project_id)
        limits = self._region(req).network_quota(project_id)
        used = self.quota_usage(req, project_id)
        return json_response({"quota": {k: {"limit": v, "used": used.get(k, 0), "reserved": 0}
                                        for k, v in limits.items()}})

    def update_quota(self, req: Request, project_id: str) -> Response:
        if not req.auth.is_admin:
            raise policy("update_quota")
        body = self._body(req, "quota")
        region = self._region(req)
        check = as_bool(body.pop("check_limit", False), "check_limit")
        self._only(body, set(region.network_quota_defaults))
        new = {}
        for key, value in body.items():
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise bad(f"Invalid input for {key}. Reason: '{value}' is not an integer.") \
                    from None
            if isinstance(value, bool) or number < -1:
                raise bad(f"Invalid input for {key}. Reason: '{value}' should be greater than "
                          "or equal to -1.")
            new[key] = number
        if check:
            used = self.quota_usage(req, project_id)
            over = [k for k, v in new.items() if v >= 0 and used.get(k, 0) > v]
            if over:
                raise bad(f"Quota limit {new[over[0]]} for {over[0]} must be greater than or "
                          f"equal to already used and reserved {used[over[0]]}.")
        region.network_quotas.setdefault(project_id, {}).update(new)
        return json_response({"quota": region.network_quota(project_id)})

    def delete_quota(self, req: Request, project_id: str) -> Response:
        if not req.auth.is_admin:
            raise policy("delete_quota")
        self._region(req).network_quotas.pop(project_id, None)
        return Response(status=204)

    # --- tags ------------------------------------------------------------------------------

    def _tag_target(self, req: Request, collection: str, rid: str) -> tuple[list[str], Any]:
        """The live tag list of a resource (and the resource) after visibility checks."""
        region = self._region(req)
        if collection == "networks":
            net = self._get_network(req, rid)
            self._owner(req, net.project_id, "update_network")
            return net.tags, net
        if collection == "subnets":
            sub = self._get_subnet(req, rid)
            self._owner(req, sub.project_id, "update_subnet")
        elif collection == "ports":
            port = self._get_port(req, rid)
            self._owner(req, port.project_id, "update_port")
        elif collection == "security-groups":
            self._get_sg(req, rid)
        else:
            raise nerr(404, "HTTPNotFound", "The resource could not be found.")
        del region
        return self._x(req).tags.setdefault(rid, []), None

    @staticmethod
    def _valid_tag(tag: Any) -> str:
        if not isinstance(tag, str) or not tag or len(tag) > 255 or "," in tag:
            raise bad(f"Invalid input for tags. Reason: '{tag}' is not a valid string.")
        return tag

    @staticmethod
    def _touch(obj: Any) -> None:
        if isinstance(obj, Network):
            obj.updated_at = now()
            obj.revision_number += 1

    def get_tags(self, req: Request, collection: str, rid: str) -> Response:
        tags, _ = self._tag_target(req, collection, rid)
        return json_response({"tags": sorted(tags)})

    def set_tags(self, req: Request, collection: str, rid: str) -> Response:
        tags, obj = self._tag_target(req, collection, rid)
        try:
            doc = req.json()
        except ApiError:
            raise bad("Body contains invalid data") from None
        new = doc.get("tags") if isinstance(doc, dict) else None
        if not isinstance(new, list):
            raise bad("Invalid input for tags. Reason: tags must be a list.")
        tags[:] = list(dict.fromkeys(self._valid_tag(t) for t in new))
        self._touch(obj)
        return json_response({"tags": sorted(tags)})

    def post_tags(self, req: Request, collection: str, rid: str) -> Response:
        tags, obj = self._tag_target(req, collection, rid)
        try:
            doc = req.json()
        except ApiError:
            raise bad("Body contains invalid data") from None
        new = doc.get("tags") if isinstance(doc, dict) else None
        if not isinstance(new, list):
            raise bad("Invalid input for tags. Reason: tags must be a list.")
        for t in new:
            if self._valid_tag(t) not in tags:
                tags.append(t)
        self._touch(obj)
        return json_response({"tags": sorted(tags)}, 201)

    def add_tag(self, req: Request, collection: str, rid: str, tag: str) -> Response:
        tags, obj = self._tag_target(req, collection, rid)
        if self._valid_tag(tag) not in tags:
            tags.append(tag)
            self._touch(obj)
        return Response(status=201)

    def check_tag(self, req: Request, collection: str, rid: str, tag: str) -> Response:
        tags, _ = self._tag_target(req, collection, rid)
        if tag not in tags:
            raise nerr(404, "TagNotFound", f"Tag {tag} could not be found for {collection[:-1]}"
                                           f" {rid}.")
        return Response(status=204)

    def delete_tag(self, req: Request, collection: str, rid: str, tag: str) -> Response:
        tags, obj = self._tag_target(req, collection, rid)
        if tag not in tags:
            raise nerr(404, "TagNotFound", f"Tag {tag} could not be found for {collection[:-1]}"
                                           f" {rid}.")
        tags.remove(tag)
        self._touch(obj)
        return Response(status=204)

    def delete_tags(self, req: Request, collection: str, rid: str) -> Response:
        tags, obj = self._tag_target(req, collection, rid)
        tags.clear()
        self._touch(obj)
        return Response(status=204)

    def list_subnetpools(self, req: Request) -> Response:
        return self.collection(req, "subnetpools", [], lambda m: nerr(
            404, "SubnetPoolNotFound", f"Subnet pool {m} could not be found."))

    def list_azs(self, req: Request) -> Response:
        zones = sorted({z for n in self._region(req).networks.values()
                        for z in n.availability_zones} | set(self._region(req).zones))
        return self.collection(req, "availability_zones", [
            {"name": z, "resource": r, "state": "available"}
            for z in zones for r in ("network",)], lambda m: bad(m))
