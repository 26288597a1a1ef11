"""Neutron internals shared by the handler modules: errors, visibility, the generic
filter / sort / page / ``fields`` machinery, security groups state and quota usage."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from govcloud.sim.http import ApiError, Request, Response, json_response
from govcloud.sim.model import Network, Port, Subnet, iso, now
from govcloud.sim.state import Cloud, RegionState

# query parameters that are not attribute filters
CONTROL_PARAMS = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse",
                  "tags", "tags-any", "not-tags", "not-tags-any"}


def nerr(status: int, kind: str, message: str) -> ApiError:
    return ApiError(status, message, kind=kind)


def bad(message: str) -> ApiError:
    return nerr(400, "HTTPBadRequest", message)


def policy(action: str) -> ApiError:
    return nerr(403, "PolicyNotAuthorized", f"({action}) is disallowed by policy")


def as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise bad(f"Invalid input for {name}. Reason: '{value}' is not a valid boolean value.")


def ts(t: Any) -> str | None:
    return iso(t)


@dataclass
class SecurityGroup:
    id: str
    name: str
    project_id: str
    description: str = ""
    stateful: bool = True
    rules: list[dict[str, Any]] = field(default_factory=list)
    created_at: Any = field(default_factory=now)
    updated_at: Any = field(default_factory=now)
    revision_number: int = 1


@dataclass
class NeutronExtra:
    """Neutron state the shared model does not hold."""

    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)  # subnet/port/sg id → tags
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → extra attributes
    pools: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # subnet → pools


class NeutronBase:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.extra: dict[str, NeutronExtra] = {}

    # --- lookups ---------------------------------------------------------------------------

    def _region(self, req: Request) -> RegionState:
        return self.cloud.region(req.region)

    def _x(self, req: Request) -> NeutronExtra:
        return self.extra.setdefault(req.region or "", NeutronExtra())

    def _attrs(self, req: Request, rid: str) -> dict[str, Any]:
        return self._x(req).attrs.setdefault(rid, {})

    @staticmethod
    def _project(req: Request) -> str:
        return req.auth.project_id or ""

    def _net_visible(self, req: Request, net: Network) -> bool:
        return req.auth.is_admin or net.shared or net.external or \
            net.project_id == self._project(req)

    def _get_network(self, req: Request, net_id: str) -> Network:
        net = self._region(req).networks.get(net_id)
        if net is None or not self._net_visible(req, net):
            raise nerr(404, "NetworkNotFound", f"Network {net_id} could not be found.")
        return net

    def _subnet_visible(self, req: Request, sub: Subnet) -> bool:
        if req.auth.is_admin or sub.project_id == self._project(req):
            return True
        net = self._region(req).networks.get(sub.network_id)
        return net is not None and self._net_visible(req, net)

    def _get_subnet(self, req: Request, subnet_id: str) -> Subnet:
        sub = self._region(req).subnets.get(subnet_id)
        if sub is None or not self._subnet_visible(req, sub):
            raise nerr(404, "SubnetNotFound", f"Subnet {subnet_id} could not be found.")
        return sub

    def _port_visible(self, req: Request, port: Port) -> bool:
        if req.auth.is_admin or port.project_id == self._project(req):
            return True
        net = self._region(req).networks.get(port.network_id)
        return net is not None and net.project_id == self._project(req)

    def _get_port(self, req: Request, port_id: str) -> Port:
        port = self._region(req).ports.get(port_id)
        if port is None or not self._port_visible(req, port):
            raise nerr(404, "PortNotFound", f"Port {port_id} could not be found.")
        return port

    def _owner(self, req: Request, project_id: str, action: str) -> None:
        if not req.auth.is_admin and project_id != self._project(req):
            raise policy(action)

    def _body(self, req: Request, key: str) -> dict[str, Any]:
        try:
            doc = req.json()
        except ApiError:
            raise bad("Body contains invalid data") from None
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise bad(f"Resource body required. The request body must contain the '{key}' "
                      "object." if isinstance(doc, dict) and key not in doc else
                      "Body contains invalid data")
        return doc[key]

    @staticmethod
    def _only(body: dict[str, Any], allowed: set[str]) -> None:
        extra = sorted(set(body) - allowed)
        if extra:
            raise bad(f"Unrecognized attribute(s) '{', '.join(extra)}'")

    def _target_project(self, req: Request, body: dict[str, Any]) -> str:
        pid = body.get("project_id") or body.get("tenant_id") or self._project(req)
        if body.get("project_id") and body.get("tenant_id") and \
                body["project_id"] != body["tenant_id"]:
            raise bad("'project_id' and 'tenant_id' do not match")
        if pid != self._project(req) and not req.auth.is_admin:
            raise bad("Specifying 'project_id' or 'tenant_id' other than the authenticated "
                      "project in request requires admin privileges")
        return str(pid)

    # --- generic collection handling -------------------------------------------------------

    def _tags_of(self, req: Request, rid: str, obj: Any = None) -> list[str]:
        if isinstance(obj, Network):
            return obj.tags
        return self._x(req).tags.get(rid, [])

    def collection(self, req: Request, kind: str, items: list[dict[str, Any]],
                   not_found: Callable[[str], ApiError]) -> Response:
        """Filter, sort, page and select ``fields`` of rendered resources like Neutron."""
        attrs = set(items[0]) if items else set()
        for key in req.query:
            if key in CONTROL_PARAMS or key.startswith("_"):
                continue
            if items and key not in attrs and key not in ("ip_address", "subnet_id"):
                raise bad(f"[{key}] is invalid attribute for filtering")
            values = req.args(key)
            items = [i for i in items if self._match(i, key, values)]
        for key, test in (("tags", all), ("tags-any", any)):
            if (raw := req.arg(key)) is not None:
                wanted = raw.split(",")
                items = [i for i in items if test(t in i.get("tags", []) for t in wanted)]
        for key, test in (("not-tags", all), ("not-tags-any", any)):
            if (raw := req.arg(key)) is not None:
                wanted = raw.split(",")
                items = [i for i in items if not test(t in i.get("tags", []) for t in wanted)]
        sort_keys = req.args("sort_key")
        sort_dirs = req.args("sort_dir")
        if sort_dirs and len(sort_dirs) != len(sort_keys):
            raise bad("The number of sort_keys and sort_dirs must be same")
        for n in range(len(sort_keys) - 1, -1, -1):
            key = sort_keys[n]
            direction = sort_dirs[n] if sort_dirs else "asc"
            if direction not in ("asc", "desc"):
                raise bad(f"{direction} is invalid value for sort_dir, valid value is 'asc' "
                          "and 'desc'")
            if items and key not in attrs:
                raise bad(f"{key} is an invalid attribute for sort_keys")
            def sort_value(i: dict[str, Any], k: str = key) -> tuple[bool, str]:
                return (i.get(k) is not None, str(i.get(k)))
            items = sorted(items, key=sort_value, reverse=direction == "desc")
        links: list[dict[str, str]] = []
        limit = req.int_arg("limit")
        marker = req.arg("marker")
        if marker is not None:
            ids = [i["id"] for i in items]
            if marker not in ids:
                raise not_found(marker)
            items = items[ids.index(marker) + 1:]
        base = f"{req.base_url}{req.path}"
        params = [(k, v) for k, vs in req.query.items() if k not in ("marker",) for v in vs]
        if limit:
            has_more = len(items) > limit
            items = items[:limit]
            if has_more and items:
                links.append({"rel": "next", "href": base + "?" + urlencode(
                    params + [("marker", items[-1]["id"])])})
            if marker is not None and items:
                links.append({"rel": "previous", "href": base + "?" + urlencode(
                    params + [("marker", items[0]["id"]), ("page_reverse", "True")])})
        fields = [f for raw in req.args("fields") for f in raw.split(",") if f]
        if fields:
            items = [{k: v for k, v in i.items() if k in fields} for i in items]
        body: dict[str, Any] = {kind: items}
        if links:
            body[f"{kind}_links"] = links
        return json_response(body)

    @staticmethod
    def _match(item: dict[str, Any], key: str, values: list[str]) -> bool:
        if key in ("fixed_ips", "ip_address", "subnet_id"):
            ips = item.get("fixed_ips", [])
            for v in values:
                k, sep, want = v.partition("=")
                if key != "fixed_ips":
                    k, want = key, v
                elif not sep:
                    return False
                if not any(str(ip.get(k)) == want for ip in ips):
                    return False
            return True
        have = item.get(key)
        for v in values:
            if isinstance(have, bool):
                if v.lower() in ("true", "1") and have or v.lower() in ("false", "0") and \
                        not have:
                    return True
            elif isinstance(have, list):
                if v in [str(x) for x in have]:
                    return True
            elif have is None:
                if v in ("", "None", "null"):
                    return True
            elif str(have) == v:
                return True
        return False

    @staticmethod
    def one(req: Request, key: str, item: dict[str, Any], status: int = 200) -> Response:
        fields = [f for raw in req.args("fields") for f in raw.split(",") if f]
        if fields:
            item = {k: v for k, v in item.items() if k in fields}
        return json_response({key: item}, status)

    # --- security groups ---------------------------------------------------------------------

    def _rule(self, req: Request, sg: SecurityGroup, *, direction: str, ethertype: str,
              remote_group_id: str | None = None, protocol: str | None = None,
              port_min: int | None = None, port_max: int | None = None,
              remote_ip_prefix: str | None = None, description: str = "") -> dict[str, Any]:
        t = ts(now())
        return {"id": self._region(req).ids.uuid(), "project_id": sg.project_id,
                "tenant_id": sg.project_id, "security_group_id": sg.id,
                "ethertype": ethertype, "direction": direction, "protocol": protocol,
                "port_range_min": port_min, "port_range_max": port_max,
                "remote_ip_prefix": remote_ip_prefix, "remote_group_id": remote_group_id,
                "remote_address_group_id": None, "normalized_cidr":
                    str(ipaddress.ip_network(remote_ip_prefix, strict=False))
                    if remote_ip_prefix else None,
                "description": description, "tags": [], "created_at": t, "updated_at": t,
                "revision_number": 0}

    def default_sg(self, req: Request, project_id: str) -> SecurityGroup:
        """Neutron creates a project's ``default`` group the first time it is needed."""
        x = self._x(req)
        for sg in x.security_groups.values():
            if sg.project_id == project_id and sg.name == "default":
                return sg
        sg = SecurityGroup(id=self._region(req).ids.uuid(), name="default",
                           project_id=project_id, description="Default security group")
        for eth in ("IPv4", "IPv6"):
            sg.rules.append(self._rule(req, sg, direction="ingress", ethertype=eth,
                                       remote_group_id=sg.id))
            sg.rules.append(self._rule(req, sg, direction="egress", ethertype=eth))
        x.security_groups[sg.id] = sg
        return sg

    def port_sgs(self, req: Request, port: Port) -> list[str]:
        if port.security_groups:
            return list(port.security_groups)
        if port.device_owner.startswith("compute:") and \
                self._attrs(req, port.id).get("port_security_enabled", True):
            return [self.default_sg(req, port.project_id).id]
        return []

    # --- quota usage -------------------------------------------------------------------------

    def quota_usage(self, req: Request, project_id: str) -> dict[str, int]:
        region = self._region(req)
        x = self._x(req)
        sgs = [sg for sg in x.security_groups.values() if sg.project_id == project_id]
        return {
            "network": sum(1 for n in region.networks.values() if n.project_id == project_id),
            "subnet": sum(1 for s in region.subnets.values() if s.project_id == project_id),
            "port": sum(1 for p in region.ports.values() if p.project_id == project_id),
            "router": 0, "floatingip": 0, "rbac_policy": 0, "subnetpool": 0,
            "security_group": len(sgs),
            "security_group_rule": sum(len(sg.rules) for sg in sgs),
        }

    def check_quota(self, req: Request, project_id: str, resource: str, count: int = 1) -> None:
        limit = self._region(req).network_quota(project_id).get(resource, -1)
        if limit >= 0 and self.quota_usage(req, project_id)[resource] + count > limit:
            raise nerr(409, "OverQuota", f"Quota exceeded for resources: ['{resource}'].")
