"""Nova flavors: list/detail/show/create/update/delete, extra specs, flavor access."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    json_response,
    not_found,
)
from govcloud.sim.model import Flavor
from govcloud.sim.nova_common import (
    NovaContext,
    body_object,
    check_keys,
    int_field,
    invalid,
    invalid_query,
    limit_and_marker,
    links,
    new_uuid,
    next_link,
    require_admin,
    str_field,
)
from govcloud.sim.state import RegionState

SORT_KEYS = {
    "created_at": None, "description": "description", "disabled": "disabled",
    "ephemeral_gb": "ephemeral", "flavorid": "id", "id": "id", "is_public": "is_public",
    "memory_mb": "ram", "name": "name", "root_gb": "disk", "rxtx_factor": "rxtx_factor",
    "swap": "swap", "updated_at": None, "vcpu_weight": None, "vcpus": "vcpus",
}
_NAME_RE = re.compile(r"^(?! )[\w. _-]+(?<! )$", re.UNICODE)
_ID_RE = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")


def flavor_view(req: Request, f: Flavor, *, detail: bool = True,
                extra_specs: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f.id, "name": f.name}
    if detail:
        out.update({
            "ram": f.ram, "disk": f.disk, "vcpus": f.vcpus,
            "swap": f.swap if (f.swap or req.mv_at_least(2, 75)) else "",
            "OS-FLV-EXT-DATA:ephemeral": f.ephemeral,
            "OS-FLV-DISABLED:disabled": f.disabled,
            "os-flavor-access:is_public": f.is_public,
            "rxtx_factor": f.rxtx_factor,
        })
    out["links"] = links(req, "flavors", f.id)
    if req.mv_at_least(2, 55):
        out["description"] = f.description
    if detail and (req.mv_at_least(2, 61) if extra_specs is None else extra_specs):
        out["extra_specs"] = dict(f.extra_specs)
    return out


def visible(req: Request, f: Flavor) -> bool:
    return f.is_public or req.auth.is_admin or req.auth.project_id in f.access


class FlavorRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        add(c, "GET", "/v2.1/flavors", self.index)
        add(c, "GET", "/v2.1/flavors/detail", self.detail)
        add(c, "POST", "/v2.1/flavors", self.create)
        add(c, "GET", "/v2.1/flavors/{flavor_id}", self.show)
        add(c, "PUT", "/v2.1/flavors/{flavor_id}", self.update)
        add(c, "DELETE", "/v2.1/flavors/{flavor_id}", self.delete)
        add(c, "POST", "/v2.1/flavors/{flavor_id}/action", self.action)
        add(c, "GET", "/v2.1/flavors/{flavor_id}/os-flavor-access", self.access_list)
        add(c, "GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", self.specs_index)
        add(c, "POST", "/v2.1/flavors/{flavor_id}/os-extra_specs", self.specs_create)
        add(c, "GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.specs_show)
        add(c, "PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.specs_update)
        add(c, "DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.specs_delete)

    # --- lookup ----------------------------------------------------------------------------

    def get(self, req: Request, region: RegionState, flavor_id: str) -> Flavor:
        f = region.flavors.get(flavor_id)
        if f is None or not visible(req, f):
            raise not_found(f"Flavor {flavor_id} could not be found.")
        return f

    @staticmethod
    def _replace(region: RegionState, f: Flavor, **changes: Any) -> Flavor:
        """Copy on write: servers keep the flavor snapshot they were built with."""
        new = dataclasses.replace(f, **changes)
        region.flavors[f.id] = new
        return new

    # --- list ------------------------------------------------------------------------------

    def _list(self, req: Request) -> tuple[list[Flavor], int]:
        region = self.api.region(req)
        limit, marker = limit_and_marker(req)
        sort_key = req.arg("sort_key") or "flavorid"
        sort_dir = req.arg("sort_dir") or "asc"
        if sort_key not in SORT_KEYS:
            raise invalid_query("sort_key", sort_key,
                                f"'{sort_key}' is not one of {sorted(SORT_KEYS)}")
        if sort_dir not in ("asc", "desc"):
            raise invalid_query("sort_dir", sort_dir, f"'{sort_dir}' is not one of "
                                                      "['asc', 'desc']")
        auth = req.auth
        is_public: bool | None = True
        if auth.is_admin:
            raw = req.arg("is_public")
            if raw is not None:
                low = raw.strip().lower()
                if low == "none":
                    is_public = None
                elif low in ("1", "t", "true", "on", "y", "yes"):
                    is_public = True
                elif low in ("0", "f", "false", "off", "n", "no"):
                    is_public = False
                else:
                    raise bad_request(f"Invalid is_public filter [{raw}]")
        min_ram = self._int_filter(req, "minRam")
        min_disk = self._int_filter(req, "minDisk")
        out = []
        for f in region.flavors.values():
            if not auth.is_admin and not (f.is_public or auth.project_id in f.access):
                continue
            if not auth.is_admin and f.disabled:
                continue
            if is_public is True and not (f.is_public or auth.project_id in f.access):
                continue
            if is_public is False and f.is_public:
                continue
            if min_ram is not None and f.ram < min_ram:
                continue
            if min_disk is not None and f.disk < min_disk:
                continue
            out.append(f)
        attr = SORT_KEYS[sort_key]
        if attr is not None:
            out.sort(key=lambda f: (_sortable(getattr(f, attr)), f.id),
                     reverse=sort_dir == "desc")
        if marker is not None:
            ids = [f.id for f in out]
            if marker not in ids:
                raise bad_request(f"marker [{marker}] not found")
            out = out[ids.index(marker) + 1:]
        return out[:limit], limit

    @staticmethod
    def _int_filter(req: Request, name: str) -> int | None:
        raw = req.arg(name)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise bad_request(f"Invalid {name} filter [{raw}]") from None

    def _respond(self, req: Request, flavors: list[Flavor], limit: int, detail: bool,
                 collection: str) -> Response:
        body: dict[str, Any] = {"flavors": [flavor_view(req, f, detail=detail)
                                            for f in flavors]}
        if flavors and len(flavors) >= limit:
            body["flavors_links"] = [next_link(req, collection, flavors[-1].id)]
        return json_response(body)

    def index(self, req: Request) -> Response:
        flavors, limit = self._list(req)
        return self._respond(req, flavors, limit, False, "flavors")

    def detail(self, req: Request) -> Response:
        flavors, limit = self._list(req)
        return self._respond(req, flavors, limit, True, "flavors/detail")

    def show(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        return json_response({"flavor": flavor_view(req, self.get(req, region, flavor_id))})

    # --- manage ----------------------------------------------------------------------------

    def create(self, req: Request) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-manage:create")
        doc = body_object(req, "flavor")
        allowed = {"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap",
                   "rxtx_factor", "os-flavor-access:is_public"}
        if req.mv_at_least(2, 55):
            allowed.add("description")
        check_keys(doc, allowed)
        name = str_field(doc, "name", required=True, min_len=1)
        assert name is not None
        if not _NAME_RE.match(name):
            raise invalid("name", name, f"'{name}' does not match "
                                        "'^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
        fid = doc.get("id")
        if fid is None:
            fid = new_uuid()
        elif isinstance(fid, int) and not isinstance(fid, bool):
            fid = str(fid)
        elif not isinstance(fid, str) or not _ID_RE.match(fid) or len(fid) > 255:
            raise invalid("id", fid, f"{fid!r} does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
        ram = int_field(doc, "ram", required=True, minimum=1, maximum=2147483647)
        vcpus = int_field(doc, "vcpus", required=True, minimum=1, maximum=2147483647)
        disk = int_field(doc, "disk", required=True, minimum=0, maximum=2147483647)
        ephemeral = int_field(doc, "OS-FLV-EXT-DATA:ephemeral", minimum=0, default=0)
        swap = int_field(doc, "swap", minimum=0, default=0)
        rxtx = doc.get("rxtx_factor", 1.0)
        if isinstance(rxtx, bool) or not isinstance(rxtx, (int, float, str)):
            raise invalid("rxtx_factor", rxtx, f"{rxtx!r} is not of type 'number', 'string'")
        try:
            rxtx = float(rxtx)
        except ValueError:
            raise invalid("rxtx_factor", rxtx, f"'{rxtx}' does not match "
                                               "'^[0-9]+(\\.[0-9]+)?$'") from None
        if rxtx <= 0:
            raise invalid("rxtx_factor", rxtx, f"{rxtx} is less than the minimum of 0")
        is_public = doc.get("os-flavor-access:is_public", True)
        if not isinstance(is_public, bool):
            raise invalid("os-flavor-access:is_public", is_public,
                          f"{is_public!r} is not of type 'boolean'")
        description = str_field(doc, "description", max_len=65535, nullable=True)
        for f in region.flavors.values():
            if f.name == name:
                raise conflict(f"Flavor with name {name} already exists.")
            if f.id == fid:
                raise conflict(f"Flavor with ID {fid} already exists.")
        flavor = Flavor(id=fid, name=name, vcpus=vcpus or 1, ram=ram or 1, disk=disk or 0,
                        ephemeral=ephemeral or 0, swap=swap or 0, rxtx_factor=rxtx,
                        is_public=is_public, description=description)
        region.flavors[fid] = flavor
        return json_response({"flavor": flavor_view(req, flavor)})

    def update(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        if not req.mv_at_least(2, 55):
            raise not_found("The resource could not be found.")
        require_admin(req, "os_compute_api:os-flavor-manage:update")
        doc = body_object(req, "flavor")
        check_keys(doc, {"description"})
        if "description" not in doc:
            raise invalid("flavor", doc, "'description' is a required property")
        description = str_field(doc, "description", max_len=65535, nullable=True)
        f = self.get(req, region, flavor_id)
        f = self._replace(region, f, description=description)
        return json_response({"flavor": flavor_view(req, f)})

    def delete(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-manage:delete")
        if flavor_id not in region.flavors:
            raise not_found(f"Flavor {flavor_id} could not be found.")
        del region.flavors[flavor_id]
        return Response(status=202)

    # --- access ----------------------------------------------------------------------------

    def _access_body(self, f: Flavor) -> dict[str, Any]:
        return {"flavor_access": [{"flavor_id": f.id, "tenant_id": p}
                                  for p in sorted(f.access)]}

    def access_list(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-access")
        f = self.get(req, region, flavor_id)
        if f.is_public:
            raise not_found("Access list not available for public flavors.")
        return json_response(self._access_body(f))

    def action(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        doc = req.json()
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("Malformed request body")
        (name, body), = doc.items()
        if name not in ("addTenantAccess", "removeTenantAccess"):
            raise bad_request(f"There is no such action: {name}")
        rule = "add_tenant_access" if name == "addTenantAccess" else "remove_tenant_access"
        require_admin(req, f"os_compute_api:os-flavor-access:{rule}")
        if not isinstance(body, dict):
            raise invalid(name, body, f"{body!r} is not of type 'object'")
        check_keys(body, {"tenant"})
        tenant = str_field(body, "tenant", required=True, min_len=1)
        f = region.flavors.get(flavor_id)
        if f is None:
            raise not_found(f"Flavor {flavor_id} could not be found.")
        if name == "addTenantAccess":
            if f.is_public:
                raise conflict("Can not add access to a public flavor.")
            if tenant in f.access:
                raise conflict(f"Flavor access already exists for flavor {flavor_id} and "
                               f"project {tenant} combination.")
            f = self._replace(region, f, access=f.access | {tenant})
        else:
            if tenant not in f.access:
                raise not_found(f"Flavor access not found for {flavor_id} / {tenant} "
                                "combination.")
            f = self._replace(region, f, access=f.access - {tenant})
        return json_response(self._access_body(f))

    # --- extra specs -----------------------------------------------------------------------

    def specs_index(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        f = self.get(req, region, flavor_id)
        return json_response({"extra_specs": dict(f.extra_specs)})

    @staticmethod
    def _spec_values(specs: Any) -> dict[str, str]:
        if not isinstance(specs, dict):
            raise invalid("extra_specs", specs, f"{specs!r} is not of type 'object'")
        out = {}
        for k, v in specs.items():
            if not 1 <= len(k) <= 255 or not re.fullmatch(r"[\w.\-: ]+", k):
                raise invalid("extra_specs", specs, f"'{k}' does not match any of the "
                                                    "regexes: '^[a-zA-Z0-9-_:. ]{1,255}$'")
            if isinstance(v, (bool, int, float)):
                v = str(v)
            if not isinstance(v, str):
                raise invalid(f"extra_specs.{k}", v, f"{v!r} is not of type 'string', "
                                                     "'integer', 'number', 'boolean'")
            if len(v) > 255:
                raise invalid(f"extra_specs.{k}", v, f"'{v}' is too long")
            out[k] = v
        return out

    def specs_create(self, req: Request, flavor_id: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-extra-specs:create")
        doc = req.json_object()
        check_keys(doc, {"extra_specs"})
        if "extra_specs" not in doc:
            raise invalid("extra_specs", None, "'extra_specs' is a required property")
        specs = self._spec_values(doc["extra_specs"])
        f = self.get(req, region, flavor_id)
        self._replace(region, f, extra_specs={**f.extra_specs, **specs})
        return json_response({"extra_specs": specs})

    def specs_show(self, req: Request, flavor_id: str, key: str) -> Response:
        region = self.api.region(req)
        f = self.get(req, region, flavor_id)
        if key not in f.extra_specs:
            raise not_found(f"Flavor {flavor_id} has no extra specs with key {key}.")
        return json_response({key: f.extra_specs[key]})

    def specs_update(self, req: Request, flavor_id: str, key: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-extra-specs:update")
        doc = req.json_object()
        specs = self._spec_values(doc)
        if key not in specs:
            raise bad_request("Request body and URI mismatch")
        if len(specs) > 1:
            raise bad_request("Request body contains too many items")
        f = self.get(req, region, flavor_id)
        self._replace(region, f, extra_specs={**f.extra_specs, **specs})
        return json_response(specs)

    def specs_delete(self, req: Request, flavor_id: str, key: str) -> Response:
        region = self.api.region(req)
        require_admin(req, "os_compute_api:os-flavor-extra-specs:delete")
        f = self.get(req, region, flavor_id)
        if key not in f.extra_specs:
            raise not_found(f"Flavor {flavor_id} has no extra specs with key {key}.")
        specs = dict(f.extra_specs)
        del specs[key]
        self._replace(region, f, extra_specs=specs)
        return Response(status=202)


def _sortable(value: Any) -> Any:
    return (value is None, value if value is not None else 0)

