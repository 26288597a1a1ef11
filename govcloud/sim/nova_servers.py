"""Nova servers: views per microversion, list/detail (fast paging), show, update, delete.

Server creation lives in ``nova_create``; actions and sub-resources in ``nova_server_ops``.

Listing is built for scale: the region's servers are kept in one cached order (newest
first: ``created_at`` desc, then creation ``seq`` desc), re-sorted only when servers are
added or removed; a marker is resolved through a position index, and a page is one pass
from there applying the filters. Per-server views reuse shared sub-objects (flavor, image,
security groups, links prefixes) and memoised timestamps so a page of 1,000 detailed
servers costs a few milliseconds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    forbidden,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.model import Flavor, Server, now
from govcloud.sim.nova_common import (
    MAX_LIMIT,
    PREFIX,
    NovaContext,
    NovaRegionExtra,
    body_object,
    bool_arg,
    check_keys,
    invalid,
    invalid_query,
    iso,
    iso_naive_us,
    limit_and_marker,
    next_link,
    parse_time,
    policy,
    str_field,
)
from govcloud.sim.nova_create import ServerCreator
from govcloud.sim.state import RegionState

STATUSES = {"ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD",
            "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED",
            "SHELVED_OFFLOADED", "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN",
            "VERIFY_RESIZE"}
PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}
FAULT_STATUSES = {"ERROR", "DELETED"}
SORT_ATTRS: dict[str, Callable[[Server], Any]] = {
    "access_ip_v4": lambda s: s.access_ipv4,
    "access_ip_v6": lambda s: s.access_ipv6,
    "auto_disk_config": lambda s: False,
    "availability_zone": lambda s: s.availability_zone or "",
    "config_drive": lambda s: s.config_drive,
    "created_at": lambda s: s.created_at,
    "display_description": lambda s: s.description or "",
    "display_name": lambda s: s.name,
    "host": lambda s: s.host or "",
    "hostname": lambda s: s.hostname,
    "image_ref": lambda s: s.image_id,
    "instance_type_id": lambda s: s.flavor.id,
    "kernel_id": lambda s: "",
    "key_name": lambda s: s.key_name or "",
    "launch_index": lambda s: getattr(s, "launch_index", 0),
    "launched_at": lambda s: (s.launched_at is not None, s.launched_at or s.created_at),
    "locked_by": lambda s: "admin" if s.locked else "",
    "node": lambda s: s.host or "",
    "power_state": lambda s: s.power_state,
    "progress": lambda s: 0,
    "project_id": lambda s: s.project_id,
    "ramdisk_id": lambda s: "",
    "root_device_name": lambda s: "/dev/vda",
    "task_state": lambda s: s.task_state or "",
    "terminated_at": lambda s: (s.terminated_at is not None,
                                s.terminated_at or s.created_at),
    "updated_at": lambda s: s.updated_at,
    "user_id": lambda s: s.user_id,
    "uuid": lambda s: s.id,
    "vm_state": lambda s: s.vm_state,
}
def host_status(region: RegionState, s: Server) -> str:
    if not s.host:
        return ""
    hv = region.hv_by_host.get(s.host)
    if hv is None:
        return ""
    svc = hv.service
    if svc.forced_down:
        return "DOWN"
    if svc.status == "disabled":
        return "MAINTENANCE"
    return "UP" if svc.state == "up" else "UNKNOWN"


class ViewCtx:
    """Everything a server view needs that is the same for every server of a request."""

    def __init__(self, req: Request | None, region: RegionState, *, base: str = "",
                 mv: tuple[int, int] = (2, 96), admin: bool = True) -> None:
        if req is not None:
            mv, admin, base = req.microversion, bool(req.auth.is_admin), req.base_url
        self.region = region
        self.admin = admin
        self.base = base
        self.self_prefix = f"{base}{PREFIX}/servers/"
        self.bookmark_prefix = f"{base}/servers/"
        self.mv_2_3 = mv >= (2, 3)
        self.mv_2_9 = mv >= (2, 9)
        self.mv_2_16 = mv >= (2, 16)
        self.mv_2_19 = mv >= (2, 19)
        self.mv_2_26 = mv >= (2, 26)
        self.mv_2_47 = mv >= (2, 47)
        self.mv_2_63 = mv >= (2, 63)
        self.mv_2_71 = mv >= (2, 71)
        self.mv_2_73 = mv >= (2, 73)
        self.mv_2_90 = mv >= (2, 90)
        self.mv_2_96 = mv >= (2, 96)
        self._flavors: dict[int, tuple[Flavor, Any]] = {}
        self._images: dict[str, Any] = {}
        self._sgs: dict[tuple[str, ...], list[dict[str, str]]] = {}
        self._host_ids: dict[tuple[str, str], str] = {}
        self._host_status: dict[str, str] = {}

    def flavor(self, f: Flavor) -> Any:
        hit = self._flavors.get(id(f))
        if hit is not None:
            return hit[1]
        if self.mv_2_47:
            view: Any = {"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk,
                         "ephemeral": f.ephemeral, "swap": f.swap, "original_name": f.name,
                         "extra_specs": dict(f.extra_specs)}
        else:
            view = {"id": f.id, "links": [{"rel": "bookmark",
                                           "href": f"{self.base}/flavors/{f.id}"}]}
        self._flavors[id(f)] = (f, view)
        return view

    def image(self, image_id: str) -> Any:
        if not image_id:
            return ""
        view = self._images.get(image_id)
        if view is None:
            view = self._images[image_id] = {
                "id": image_id,
                "links": [{"rel": "bookmark", "href": f"{self.base}/images/{image_id}"}]}
        return view

    def security_groups(self, names: list[str]) -> list[dict[str, str]]:
        key = tuple(names)
        view = self._sgs.get(key)
        if view is None:
            view = self._sgs[key] = [{"name": n} for n in names]
        return view

    def host_id(self, s: Server) -> str:
        if not s.host:
            return ""
        key = (s.project_id, s.host)
        hid = self._host_ids.get(key)
        if hid is None:
            hid = self._host_ids[key] = hashlib.sha224(
                (s.project_id + s.host).encode()).hexdigest()
        return hid

    def host_status(self, s: Server) -> str:
        if not s.host:
            return ""
        st = self._host_status.get(s.host)
        if st is None:
            st = self._host_status[s.host] = host_status(self.region, s)
        return st


def server_view(ctx: ViewCtx, s: Server, *, show: bool = False,
                with_host_status: bool = True) -> dict[str, Any]:
    """One server exactly as GET /servers/detail (or /servers/{id} with ``show``) has it."""
    sid = s.id
    status = s.status
    d: dict[str, Any] = {
        "id": sid,
        "name": s.name,
        "status": status,
        "tenant_id": s.project_id,
        "user_id": s.user_id,
        "metadata": s.metadata,
        "hostId": ctx.host_id(s),
        "image": ctx.image(s.image_id),
        "flavor": ctx.flavor(s.flavor),
        "created": iso(s.created_at),
        "updated": iso(s.updated_at),
        "addresses": s.addresses,
        "accessIPv4": s.access_ipv4,
        "accessIPv6": s.access_ipv6,
        "links": [{"rel": "self", "href": ctx.self_prefix + sid},
                  {"rel": "bookmark", "href": ctx.bookmark_prefix + sid}],
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.availability_zone or "",
        "config_drive": s.config_drive,
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": iso_naive_us(s.launched_at),
        "OS-SRV-USG:terminated_at": iso_naive_us(s.terminated_at),
        "OS-EXT-STS:task_state": s.task_state,
        "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
    }
    if status in FAULT_STATUSES and s.fault:
        d["fault"] = _fault_view(ctx, s.fault)
    if status in PROGRESS_STATUSES:
        d["progress"] = 0
    if s.port_ids or s.deleted:
        d["security_groups"] = ctx.security_groups(s.security_groups)
    if ctx.admin:
        d["OS-EXT-SRV-ATTR:host"] = s.host
        d["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{s.instance_number:08x}"
        d["OS-EXT-SRV-ATTR:hypervisor_hostname"] = s.host
        if ctx.mv_2_3:
            d["OS-EXT-SRV-ATTR:reservation_id"] = reservation_id(s)
            d["OS-EXT-SRV-ATTR:launch_index"] = getattr(s, "launch_index", 0)
            d["OS-EXT-SRV-ATTR:hostname"] = s.hostname
            d["OS-EXT-SRV-ATTR:kernel_id"] = ""
            d["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
            d["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
            d["OS-EXT-SRV-ATTR:user_data"] = getattr(s, "user_data", None)
    elif ctx.mv_2_90:
        d["OS-EXT-SRV-ATTR:hostname"] = s.hostname
    vols = s.volumes_attached
    if not vols:
        d["os-extended-volumes:volumes_attached"] = []
    elif ctx.mv_2_3:
        d["os-extended-volumes:volumes_attached"] = [
            {"id": v["id"], "delete_on_termination": bool(v.get("delete_on_termination"))}
            for v in vols]
    else:
        d["os-extended-volumes:volumes_attached"] = [{"id": v["id"]} for v in vols]
    if ctx.mv_2_16 and ctx.admin and with_host_status:
        d["host_status"] = ctx.host_status(s)
    if ctx.mv_2_9:
        d["locked"] = s.locked
    if ctx.mv_2_73:
        d["locked_reason"] = s.locked_reason
    if ctx.mv_2_19:
        d["description"] = s.description
    if ctx.mv_2_26:
        d["tags"] = s.tags
    if ctx.mv_2_63:
        d["trusted_image_certificates"] = None
    if show and ctx.mv_2_71:
        d["server_groups"] = [s.server_group_id] if s.server_group_id else []
    if ctx.mv_2_96:
        d["pinned_availability_zone"] = s.requested_availability_zone
    return d


def _fault_view(ctx: ViewCtx, fault: dict[str, Any]) -> dict[str, Any]:
    """A 500 fault carries its details for an admin only."""
    if ctx.admin and fault.get("code") == 500 and "details" not in fault:
        return {**fault, "details": _fault_details(fault.get("message", ""))}
    if not ctx.admin and "details" in fault and fault.get("code") == 500:
        return {k: v for k, v in fault.items() if k != "details"}
    return fault


def _fault_details(message: str) -> str:
    return ("Traceback (most recent call last):\n"
            '  File "/usr/lib/python3/dist-packages/nova/conductor/manager.py", line 1654, '
            "in schedule_and_build_instances\n    host_lists = self._schedule_instances("
            "context, request_specs[0],\n"
            '  File "/usr/lib/python3/dist-packages/nova/scheduler/client/query.py", line 41,'
            " in select_destinations\n    return self.scheduler_rpcapi.select_destinations("
            f"context, spec_obj,\nnova.exception.NoValidHost: {message}\n")


def reservation_id(s: Server) -> str:
    rid = getattr(s, "reservation_id", None)
    return rid or "r-" + s.id.replace("-", "")[:8]


def brief_view(ctx: ViewCtx, s: Server) -> dict[str, Any]:
    sid = s.id
    return {"id": sid, "name": s.name,
            "links": [{"rel": "self", "href": ctx.self_prefix + sid},
                      {"rel": "bookmark", "href": ctx.bookmark_prefix + sid}]}


def touch(s: Server) -> None:
    """Record a change: bumps ``updated`` and the revision the view cache keys on."""
    s.updated_at = now()
    s.nova_rev = getattr(s, "nova_rev", 0) + 1  # type: ignore[attr-defined]


def _stamp(s: Server) -> tuple[Any, ...]:
    """What a cached view depends on; any mutation changes at least one of these."""
    return (s.updated_at, s.status, s.task_state, s.vm_state, s.power_state, s.locked,
            s.name, s.host, id(s.addresses), len(s.volumes_attached), len(s.tags),
            len(s.metadata), getattr(s, "nova_rev", 0))


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def cached_detail(ctx: ViewCtx, cache: dict[str, tuple[Any, ...]], s: Server) -> str:
    """The admin detail view as JSON text, re-rendered only when the server changed.

    ``host_status`` depends on the compute service, not the server, so it is spliced in
    fresh each time; everything else comes from the cached fragment.
    """
    stamp = _stamp(s)
    hit = cache.get(s.id)
    if hit is not None and hit[0] == stamp and hit[1] == ctx.base:
        frag: str = hit[2]
    else:
        frag = _ENCODE(server_view(ctx, s, with_host_status=False))[:-1]
        cache[s.id] = (stamp, ctx.base, frag)
    if ctx.mv_2_16:
        return frag + ',"host_status":"' + ctx.host_status(s) + '"}'
    return frag + "}"


class ServerRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api
        self.creator = ServerCreator(api)

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        add(c, "GET", "/v2.1/servers", self.index)
        add(c, "GET", "/v2.1/servers/detail", self.detail)
        add(c, "POST", "/v2.1/servers", self.creator.create)
        add(c, "GET", "/v2.1/servers/{server_id}", self.show)
        add(c, "PUT", "/v2.1/servers/{server_id}", self.update)
        add(c, "DELETE", "/v2.1/servers/{server_id}", self.delete)

    # --- lookup ----------------------------------------------------------------------------

    def get(self, req: Request, region: RegionState, server_id: str) -> Server:
        s = region.servers.get(server_id)
        if s is None or (not req.auth.is_admin and s.project_id != req.auth.project_id):
            raise not_found(f"Instance {server_id} could not be found.")
        return s

    def prewarm(self, region: RegionState, base: str) -> None:
        """Render the admin detail view of every server once, so the first full listing
        is served from the cache too."""
        ctx = ViewCtx(None, region, base=base)
        cache = self.api.extra(region).view_cache
        for s in region.servers.values():
            cached_detail(ctx, cache, s)

    @staticmethod
    def check_lock(req: Request, s: Server) -> None:
        if s.locked and not req.auth.is_admin:
            raise conflict(f"Instance {s.id} is locked")

    # --- ordering caches -------------------------------------------------------------------

    @staticmethod
    def _sort_key(s: Server) -> tuple[Any, int]:
        return (s.created_at, s.seq)

    def ordered(self, region: RegionState, ex: NovaRegionExtra,
                with_deleted: bool) -> tuple[list[Server], dict[str, int]]:
        if with_deleted:
            key = (region.seq, len(region.servers), len(region.tombstones))
            if ex.all_order_key != key:
                items = [*region.servers.values(), *region.tombstones.values()]
                items.sort(key=self._sort_key, reverse=True)
                ex.all_order = items
                ex.all_order_pos = {s.id: i for i, s in enumerate(items)}
                ex.all_order_key = key
            return ex.all_order, ex.all_order_pos
        key = (region.seq, len(region.servers), 0)
        if ex.order_key != key:
            items = list(region.servers.values())
            items.sort(key=self._sort_key, reverse=True)
            ex.order = items
            ex.order_pos = {s.id: i for i, s in enumerate(items)}
            ex.order_key = key
        return ex.order, ex.order_pos

    # --- list ------------------------------------------------------------------------------

    def index(self, req: Request) -> Response:
        return self._list(req, detail=False)

    def detail(self, req: Request) -> Response:
        return self._list(req, detail=True)

    def _list(self, req: Request, *, detail: bool) -> Response:
        region = self.api.region(req)
        ex = self.api.extra(region)
        limit, marker = limit_and_marker(req)
        preds: list[Callable[[Server], bool]] = []
        self._tenancy_filters(req, preds, detail)
        with_deleted = self._time_filters(req, preds)
        statuses = [x.upper() for x in req.args("status")]
        if statuses:
            if any(x not in STATUSES for x in statuses):
                return self._page(req, [], limit, detail, region)
            if "DELETED" in statuses:
                if not req.auth.is_admin:
                    raise forbidden("Only administrators may list deleted instances")
                with_deleted = True
            wanted_st = set(statuses)
            preds.append(lambda s: s.status in wanted_st)
        self._attribute_filters(req, preds)
        sort_keys, sort_dirs = self._sort_args(req)

        items, pos = self.ordered(region, ex, with_deleted)
        if sort_keys:
            candidates = [s for s in items if all(p(s) for p in preds)]
            self._custom_sort(candidates, sort_keys, sort_dirs)
            start = 0
            if marker is not None:
                start = self._custom_marker(region, candidates, marker, sort_keys, sort_dirs)
            page = candidates[start:start + limit]
        else:
            page = self._default_page(region, items, pos, preds, marker, limit)
        return self._page(req, page, limit, detail, region)

    @staticmethod
    def _tenancy_filters(req: Request, preds: list[Callable[[Server], bool]],
                         detail: bool) -> None:
        """Own project (or own user when unscoped); every project only for an admin."""
        auth = req.auth
        all_tenants = bool_arg(req, "all_tenants", False)
        if all_tenants and not auth.is_admin:
            which = "detail" if detail else "index"
            raise policy(f"os_compute_api:servers:{which}:get_all_tenants")
        if not all_tenants:
            if auth.project_id:
                pid = auth.project_id
                preds.append(lambda s: s.project_id == pid)
            else:
                uid = auth.user_id
                preds.append(lambda s: s.user_id == uid)
        elif auth.is_admin:
            pids = req.args("project_id") or req.args("tenant_id")
            if pids:
                wanted = set(pids)
                preds.append(lambda s: s.project_id in wanted)

    @staticmethod
    def _time_filters(req: Request, preds: list[Callable[[Server], bool]]) -> bool:
        """changes-since/-before and deleted=true; whether deleted servers are listed."""
        with_deleted = False
        since_raw = req.arg("changes-since")
        before_raw = req.arg("changes-before") if req.microversion >= (2, 66) else None
        since = parse_time(since_raw, "changes-since") if since_raw is not None else None
        before = parse_time(before_raw, "changes-before") if before_raw is not None else None
        if since is not None and before is not None and since > before:
            raise bad_request("The value of changes-since must be less than or equal to "
                              "changes-before.")
        if since is not None:
            with_deleted = True
            preds.append(lambda s: s.updated_at >= since)
        if before is not None:
            with_deleted = True
            preds.append(lambda s: s.updated_at <= before)
        if req.auth.is_admin and bool_arg(req, "deleted", False):
            with_deleted = True
            preds.append(lambda s: s.deleted)
        return with_deleted

    def _attribute_filters(self, req: Request, preds: list[Callable[[Server], bool]]) -> None:
        """name (a regex), flavor, image, reservation_id, ip/ip6, the admin (or 2.83+)
        attribute filters, host/node, locked (2.73+) and tags (2.26+)."""
        admin = req.auth.is_admin
        mv = req.microversion
        name = req.arg("name")
        if name is not None and name != "":
            try:
                rx = re.compile(name, re.IGNORECASE)
                preds.append(lambda s: rx.search(s.name) is not None)
            except re.error:
                low = name.lower()
                preds.append(lambda s: low in s.name.lower())
        flavor = req.arg("flavor")
        if flavor:
            preds.append(lambda s: s.flavor.id == flavor)
        image = req.arg("image")
        if image:
            image_id = image.rstrip("/").rsplit("/", 1)[-1]
            preds.append(lambda s: s.image_id == image_id)
        rid = req.arg("reservation_id")
        if rid:
            preds.append(lambda s: reservation_id(s) == rid)
        for param, version in (("ip", (2, 1)), ("ip6", (2, 5))):
            raw = req.arg(param)
            if raw and mv >= version:
                try:
                    iprx = re.compile(raw)
                except re.error:
                    iprx = re.compile(re.escape(raw))
                preds.append(_ip_matches(iprx))
        if admin or mv >= (2, 83):
            self._state_filters(req, preds)
        if admin:
            for param in ("host", "node"):
                raw = req.arg(param)
                if raw:
                    preds.append(_equals(lambda s: s.host, raw))
        if mv >= (2, 73) and req.arg("locked") is not None:
            locked = bool_arg(req, "locked")
            preds.append(lambda s: s.locked == locked)
        if mv >= (2, 26):
            self._tag_filters(req, preds)

    @staticmethod
    def _state_filters(req: Request, preds: list[Callable[[Server], bool]]) -> None:
        getters: tuple[tuple[str, Callable[[Server], Any]], ...] = (
            ("availability_zone", lambda s: s.availability_zone),
            ("key_name", lambda s: s.key_name),
            ("user_id", lambda s: s.user_id),
            ("vm_state", lambda s: s.vm_state),
            ("task_state", lambda s: s.task_state))
        for param, get in getters:
            raw = req.arg(param)
            if raw is not None and raw != "":
                preds.append(_equals(get, raw))
        pstate = req.arg("power_state")
        if pstate not in (None, ""):
            try:
                pv = int(pstate)
            except ValueError:
                pv = {"pending": 0, "running": 1, "paused": 3, "shutdown": 4,
                      "crashed": 6, "suspended": 7}.get(pstate.lower(), -1)
            preds.append(lambda s: s.power_state == pv)

    @staticmethod
    def _sort_args(req: Request) -> tuple[list[str], list[str]]:
        sort_keys = req.args("sort_key")
        sort_dirs = req.args("sort_dir")
        for k in sort_keys:
            if k not in SORT_ATTRS:
                raise invalid_query("sort_key", k, f"'{k}' is not one of "
                                                   f"{sorted(SORT_ATTRS)}")
            if k in ("host", "node") and not req.auth.is_admin:
                raise forbidden(f"Only administrators can sort servers by {k}")
        for d in sort_dirs:
            if d not in ("asc", "desc"):
                raise invalid_query("sort_dir", d, f"'{d}' is not one of ['asc', 'desc']")
        return sort_keys, sort_dirs

    def _default_page(self, region: RegionState, items: list[Server], pos: dict[str, int],
                      preds: list[Callable[[Server], bool]], marker: str | None,
                      limit: int) -> list[Server]:
        """A page in the cached default order (created_at desc), from just after marker."""
        start = 0
        if marker is not None:
            idx = pos.get(marker)
            if idx is None:
                idx = self._marker_position(region, items, marker)
            start = idx + 1 if marker in pos else idx
        page: list[Server] = []
        if not limit:
            return page
        if not preds:
            return items[start:start + limit]
        for s in _islice_from(items, start):
            for p in preds:
                if not p(s):
                    break
            else:
                page.append(s)
                if len(page) >= limit:
                    break
        return page

    @staticmethod
    def _tag_filters(req: Request, preds: list[Callable[[Server], bool]]) -> None:
        def tags(param: str) -> list[str] | None:
            raw = req.arg(param)
            if raw is None:
                return None
            return [t for t in raw.split(",") if t]

        t_all = tags("tags")
        if t_all:
            preds.append(lambda s: all(t in s.tags for t in t_all))
        t_any = tags("tags-any")
        if t_any:
            preds.append(lambda s: any(t in s.tags for t in t_any))
        n_all = tags("not-tags")
        if n_all:
            preds.append(lambda s: not all(t in s.tags for t in n_all))
        n_any = tags("not-tags-any")
        if n_any:
            preds.append(lambda s: not any(t in s.tags for t in n_any))

    def _marker_position(self, region: RegionState, items: list[Server], marker: str) -> int:
        """Where a marker that is not in ``items`` (e.g. deleted since) would sort."""
        m = region.servers.get(marker) or region.tombstones.get(marker)
        if m is None:
            raise bad_request(f"marker [{marker}] not found")
        key = self._sort_key(m)
        for i, s in enumerate(items):
            if self._sort_key(s) < key:
                return i
        return len(items)

    @staticmethod
    def _custom_sort(items: list[Server], keys: list[str], dirs: list[str]) -> None:
        full = list(keys)
        for default in ("created_at", "uuid"):
            if default not in full:
                full.append(default)
        for i in range(len(full) - 1, -1, -1):
            d = dirs[i] if i < len(dirs) else "desc"
            items.sort(key=_sort_by(SORT_ATTRS[full[i]]), reverse=d == "desc")

    def _custom_marker(self, region: RegionState, items: list[Server], marker: str,
                       keys: list[str], dirs: list[str]) -> int:
        for i, s in enumerate(items):
            if s.id == marker:
                return i + 1
        m = region.servers.get(marker) or region.tombstones.get(marker)
        if m is None:
            raise bad_request(f"marker [{marker}] not found")
        merged = [*items, m]
        self._custom_sort(merged, keys, dirs)
        return merged.index(m)

    def _page(self, req: Request, page: list[Server], limit: int, detail: bool,
              region: RegionState) -> Response:
        ctx = ViewCtx(req, region)
        if detail and ctx.admin and ctx.mv_2_96:
            cache = self.api.extra(region).view_cache
            text = '{"servers":[' + ",".join([cached_detail(ctx, cache, s) for s in page])
            text += "]"
            if page and len(page) >= min(limit, MAX_LIMIT):
                text += ',"servers_links":' + _ENCODE([next_link(req, "servers/detail",
                                                                 page[-1].id)])
            return Response(body=(text + "}").encode(),
                            headers={"Content-Type": "application/json"})
        if detail:
            servers = [server_view(ctx, s) for s in page]
            collection = "servers/detail"
        else:
            servers = [brief_view(ctx, s) for s in page]
            collection = "servers"
        body: dict[str, Any] = {"servers": servers}
        if page and len(page) >= min(limit, MAX_LIMIT):
            body["servers_links"] = [next_link(req, collection, page[-1].id)]
        return json_response(body)

    # --- one server ------------------------------------------------------------------------

    def show(self, req: Request, server_id: str) -> Response:
        region = self.api.region(req)
        s = self.get(req, region, server_id)
        return json_response({"server": server_view(ViewCtx(req, region), s, show=True)})

    def update(self, req: Request, server_id: str) -> Response:
        region = self.api.region(req)
        doc = body_object(req, "server")
        allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
        if req.mv_at_least(2, 19):
            allowed.add("description")
        if req.mv_at_least(2, 90):
            allowed.add("hostname")
        check_keys(doc, allowed)
        name = str_field(doc, "name", min_len=1)
        if name is not None and name.strip() != name:
            raise invalid("name", name, f"'{name}' does not match "
                                        "'^(?![\\ ])[\\w\\ ]*(?<![\\ ])$'")
        description = str_field(doc, "description", max_len=255, nullable=True)
        ips = {}
        for key, version in (("accessIPv4", 4), ("accessIPv6", 6)):
            if key in doc:
                ips[key] = _access_ip(doc[key], key, version)
        hostname = str_field(doc, "hostname", min_len=1, max_len=63)
        s = self.get(req, region, server_id)
        if not req.auth.is_admin and "member" not in req.auth.roles:
            raise policy("os_compute_api:servers:update")
        if name is not None:
            s.name = name
        if "description" in doc:
            s.description = description
        if "accessIPv4" in ips:
            s.access_ipv4 = ips["accessIPv4"]
        if "accessIPv6" in ips:
            s.access_ipv6 = ips["accessIPv6"]
        if hostname is not None:
            s.hostname = hostname
        touch(s)
        return json_response({"server": server_view(ViewCtx(req, region), s, show=True)})

    def delete(self, req: Request, server_id: str) -> Response:
        region = self.api.region(req)
        s = self.get(req, region, server_id)
        if not req.auth.is_admin and "member" not in req.auth.roles:
            raise policy("os_compute_api:servers:delete")
        self.check_lock(req, s)
        self.destroy(region, s)
        return no_content()

    @staticmethod
    def destroy(region: RegionState, s: Server) -> None:
        """Delete a server and everything it held (ports, allocations, quota, volumes)."""
        doomed = [v["id"] for v in s.volumes_attached if v.get("delete_on_termination")]
        for port_id in getattr(s, "preexisting_ports", ()):
            port = region.ports.get(port_id)
            if port is not None:
                port.device_id = port.device_owner = port.binding_host_id = ""
                port.updated_at = now()
        region.delete_server(s)
        touch(s)
        for vid in doomed:
            vol = region.volumes.get(vid)
            # Cinder refuses to delete a volume with snapshots: Nova logs it and leaves it
            if vol is not None and not vol.attachments and \
                    not any(sn.volume_id == vid for sn in region.snapshots.values()):
                region.volumes.pop(vid, None)


def _ip_matches(rx: re.Pattern[str]) -> Callable[[Server], bool]:
    return lambda s: any(rx.search(a["addr"]) for ads in s.addresses.values() for a in ads)


def _equals(get: Callable[[Server], Any], value: Any) -> Callable[[Server], bool]:
    return lambda s: get(s) == value


def _sort_by(get: Callable[[Server], Any]) -> Callable[[Server], Any]:
    return lambda s: _none_safe(get(s))


def _islice_from(items: list[Server], start: int) -> Iterable[Server]:
    for i in range(start, len(items)):
        yield items[i]


def _none_safe(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else "")


def _access_ip(value: Any, key: str, version: int) -> str:
    if value in ("", None):
        return ""
    if not isinstance(value, str):
        raise invalid(key, value, f"{value!r} is not of type 'string'")
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        raise invalid(key, value, f"'{value}' is not a 'ipv{version}'") from None
    if addr.version != version:
        raise invalid(key, value, f"'{value}' is not a 'ipv{version}'")
    return value
