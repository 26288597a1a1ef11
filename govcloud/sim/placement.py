"""Placement API (1.0–1.39): the source of capacity truth, as on a real cloud.

Resource providers, inventories, usages, allocations, traits, resource classes, aggregates
and allocation candidates, answered in Placement's shapes (``{"errors": [...]}`` bodies with
``placement.*`` codes, ``links``, generations). Every figure comes from the region's
:class:`ResourceProvider` records and :class:`Consumer` allocations, which Nova's
``RegionState.claim`` / ``release`` also move, so Placement shows exactly what Nova placed.

Behaviour follows upstream placement (openstack/placement), including where it surprises:
shrinking an inventory below what is allocated is allowed (Placement only logs it); removing
a resource class that has allocations is a 409 ``placement.inventory.inuse``; ``PUT
/resource_providers/{uuid}`` takes only ``name`` and ``parent_provider_uuid``.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any

from govcloud.sim.http import Request, Response, Router, json_response
from govcloud.sim.model import Inventory, ResourceProvider
from govcloud.sim.placement_alloc import AllocationsMixin
from govcloud.sim.placement_base import (  # noqa: F401 - re-exported for callers
    _INV_DEFAULTS,
    _INV_FIELDS,
    CANNOT_DELETE_PARENT,
    CONCURRENT_UPDATE,
    CUSTOM_PATTERN,
    DUPLICATE_NAME,
    INVENTORY_INUSE,
    MAX_INT,
    PROVIDER_IN_USE,
    RC_PATTERN,
    STANDARD_RESOURCE_CLASSES,
    STANDARD_TRAITS,
    _is_int,
    _is_uuid,
    _norm_uuid,
    perr,
)
from govcloud.sim.state import RegionState


class PlacementAPI(AllocationsMixin):
    """Placement 1.0–1.39 for every region of the cloud."""

    # --- routes ----------------------------------------------------------------------------

    def register(self, router: Router) -> None:
        def add(method: str, pattern: str, handler: Any, **kw: Any) -> None:
            router.add("placement", method, pattern, handler, **kw)

        add("GET", "/", self.root, auth=False)
        rp = "/resource_providers/{uuid}"
        add("GET", "/resource_providers", self.list_providers)
        add("POST", "/resource_providers", self.create_provider)
        add("GET", rp, self.get_provider)
        add("PUT", rp, self.update_provider)
        add("DELETE", rp, self.delete_provider)
        add("GET", rp + "/inventories", self.get_inventories)
        add("PUT", rp + "/inventories", self.set_inventories)
        add("POST", rp + "/inventories", self.create_inventory)
        add("DELETE", rp + "/inventories", self.delete_inventories)
        add("GET", rp + "/inventories/{rc}", self.get_inventory)
        add("PUT", rp + "/inventories/{rc}", self.update_inventory)
        add("DELETE", rp + "/inventories/{rc}", self.delete_inventory)
        add("GET", rp + "/usages", self.provider_usages)
        add("GET", rp + "/allocations", self.provider_allocations)
        add("GET", rp + "/traits", self.provider_traits)
        add("PUT", rp + "/traits", self.set_provider_traits)
        add("DELETE", rp + "/traits", self.delete_provider_traits)
        add("GET", rp + "/aggregates", self.provider_aggregates)
        add("PUT", rp + "/aggregates", self.set_provider_aggregates)
        add("GET", "/usages", self.usages)
        add("POST", "/allocations", self.post_allocations)
        add("GET", "/allocations/{consumer}", self.get_allocations)
        add("PUT", "/allocations/{consumer}", self.put_allocations)
        add("DELETE", "/allocations/{consumer}", self.delete_allocations)
        add("GET", "/allocation_candidates", self.allocation_candidates)
        add("GET", "/traits", self.list_traits)
        add("GET", "/traits/{name}", self.get_trait)
        add("PUT", "/traits/{name}", self.put_trait)
        add("DELETE", "/traits/{name}", self.delete_trait)
        add("GET", "/resource_classes", self.list_rcs)
        add("POST", "/resource_classes", self.create_rc)
        add("GET", "/resource_classes/{name}", self.get_rc)
        add("PUT", "/resource_classes/{name}", self.put_rc)
        add("DELETE", "/resource_classes/{name}", self.delete_rc)

    def root(self, req: Request) -> Response:
        return json_response({"versions": [{
            "id": "v1.0", "max_version": "1.39", "min_version": "1.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": ""}]}]})

    # --- resource providers -------------------------------------------------------------------

    def _rp_json(self, req: Request, rp: ResourceProvider) -> dict[str, Any]:
        url = f"{self._prefix(req)}/resource_providers/{rp.uuid}"
        rels = ["inventories", "usages"]
        if req.mv_at_least(1, 1):
            rels.append("aggregates")
        if req.mv_at_least(1, 6):
            rels.append("traits")
        if req.mv_at_least(1, 11):
            rels.append("allocations")
        data: dict[str, Any] = {
            "uuid": rp.uuid, "name": rp.name, "generation": rp.generation,
            "links": [{"rel": "self", "href": url}]
            + [{"rel": r, "href": f"{url}/{r}"} for r in rels],
        }
        if req.mv_at_least(1, 14):
            data["parent_provider_uuid"] = rp.parent_provider_uuid
            data["root_provider_uuid"] = rp.root_provider_uuid or rp.uuid
        return data

    def list_providers(self, req: Request) -> Response:
        self._policy(req, "resource_providers:list")
        allowed = {"name", "uuid"}
        for key, (major, minor) in (("member_of", (1, 3)), ("resources", (1, 4)),
                                    ("in_tree", (1, 14)), ("required", (1, 18))):
            if req.mv_at_least(major, minor):
                allowed.add(key)
        extra = sorted(set(req.query) - allowed)
        if extra:
            raise perr(req, 400, "Invalid query string parameters: Additional properties are "
                                 "not allowed (" + ", ".join(f"'{k}'" for k in extra)
                                 + (" were" if len(extra) > 1 else " was") + " unexpected)")
        region = self._region(req)
        rps = list(region.providers.values())
        if (name := req.arg("name")) is not None:
            rps = [r for r in rps if r.name == name]
        if (want := req.arg("uuid")) is not None:
            if not _is_uuid(want):
                raise perr(req, 400, f"Invalid query string parameters: '{want}' is not a "
                                     "'uuid'")
            rps = [r for r in rps if r.uuid == _norm_uuid(want)]
        for aggs, negate in self._member_of(req) if "member_of" in req.query else []:
            rps = [r for r in rps if bool(r.aggregates & aggs) != negate]
        if (raw := req.arg("resources")) is not None:
            resources = self._parse_resources(req, raw, "resources")
            rps = [r for r in rps if self._has_room(r, resources)]
        if (tree := req.arg("in_tree")) is not None:
            if not _is_uuid(tree):
                raise perr(req, 400, f"Invalid query string parameters: '{tree}' is not a "
                                     "'uuid'")
            anchor = region.providers.get(_norm_uuid(tree))
            root = (anchor.root_provider_uuid or anchor.uuid) if anchor else None
            rps = [r for r in rps if (r.root_provider_uuid or r.uuid) == root]
        if (raw := req.arg("required")) is not None:
            required, forbidden = self._parse_traits(req, raw)
            rps = [r for r in rps if required <= r.traits and not (forbidden & r.traits)]
        return self._ok(req, {"resource_providers": [self._rp_json(req, r) for r in rps]})

    def get_provider(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:show")
        return self._ok(req, self._rp_json(req, self._rp(req, uuid)))

    def _check_name(self, req: Request, doc: dict[str, Any]) -> None:
        name = doc.get("name")
        if not isinstance(name, str):
            raise self._invalid(req, f"{json.dumps(name)} is not of type 'string'")
        if not 1 <= len(name) <= 200:
            raise self._invalid(req, f"'{name}' is too " + ("short" if not name else "long"))

    def _parent(self, req: Request, doc: dict[str, Any]) -> ResourceProvider | None:
        parent = doc.get("parent_provider_uuid")
        if parent is None:
            return None
        if not _is_uuid(parent):
            raise self._invalid(req, f"'{parent}' is not a 'uuid'")
        return self._region(req).providers.get(_norm_uuid(parent))

    def create_provider(self, req: Request) -> Response:
        self._policy(req, "resource_providers:create")
        allowed = ("name", "uuid", "parent_provider_uuid") if req.mv_at_least(1, 14) \
            else ("name", "uuid")
        doc = self._check_obj(req, self._body(req), allowed, ("name",))
        self._check_name(req, doc)
        region = self._region(req)
        if doc.get("uuid") is not None:
            if not _is_uuid(doc["uuid"]):
                raise self._invalid(req, f"'{doc['uuid']}' is not a 'uuid'")
            rp_uuid = _norm_uuid(doc["uuid"])
        else:
            rp_uuid = str(uuidlib.uuid4())
        if rp_uuid in region.providers:
            raise perr(req, 409, f"Conflicting resource provider uuid: {rp_uuid} already "
                                 "exists.", DUPLICATE_NAME)
        if any(r.name == doc["name"] for r in region.providers.values()):
            raise perr(req, 409, f"Conflicting resource provider name: {doc['name']} already "
                                 "exists.", DUPLICATE_NAME)
        parent = self._parent(req, doc)
        if doc.get("parent_provider_uuid") is not None and parent is None:
            raise perr(req, 400, f'Unable to create resource provider "{doc["name"]}", '
                                 f'{rp_uuid}: Failed to obtain the parent provider '
                                 f'{doc["parent_provider_uuid"]}.')
        rp = ResourceProvider(uuid=rp_uuid, name=doc["name"], generation=0)
        rp.parent_provider_uuid = parent.uuid if parent else None
        rp.root_provider_uuid = (parent.root_provider_uuid or parent.uuid) if parent else rp_uuid
        region.providers[rp.uuid] = rp
        location = f"{self._prefix(req)}/resource_providers/{rp.uuid}"
        if req.mv_at_least(1, 20):
            return self._ok(req, self._rp_json(req, rp), 200, Location=location)
        return self._empty(201, Location=location)

    def update_provider(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:update")
        rp = self._rp(req, uuid)
        allowed = ("name", "parent_provider_uuid") if req.mv_at_least(1, 14) else ("name",)
        doc = self._check_obj(req, self._body(req), allowed, ("name",))
        self._check_name(req, doc)
        region = self._region(req)
        if any(r.name == doc["name"] and r is not rp for r in region.providers.values()):
            raise perr(req, 409, f"Conflicting resource provider {doc['name']} already "
                                 "exists.", DUPLICATE_NAME)
        if "parent_provider_uuid" in doc:
            parent = self._parent(req, doc)
            if doc["parent_provider_uuid"] is not None and parent is None:
                raise perr(req, 400, f"Unable to save resource provider {rp.uuid}: Failed to "
                                     f"obtain the parent provider "
                                     f"{doc['parent_provider_uuid']}.")
            new_parent = parent.uuid if parent else None
            if new_parent != rp.parent_provider_uuid:
                if rp.parent_provider_uuid is not None and not req.mv_at_least(1, 37):
                    raise perr(req, 400, f"Unable to save resource provider {rp.uuid}: "
                                         "Object action update failed because: re-parenting "
                                         "a provider is not currently allowed.")
                if parent is not None and self._in_subtree(region, parent, rp):
                    raise perr(req, 400, f"Unable to save resource provider {rp.uuid}: "
                                         "creating loop in the provider tree is not allowed.")
                rp.parent_provider_uuid = new_parent
                self._reroot(region, rp, (parent.root_provider_uuid or parent.uuid)
                             if parent else rp.uuid)
        rp.name = doc["name"]
        return self._ok(req, self._rp_json(req, rp))

    @staticmethod
    def _in_subtree(region: RegionState, node: ResourceProvider,
                    top: ResourceProvider) -> bool:
        cur: ResourceProvider | None = node
        while cur is not None:
            if cur is top:
                return True
            cur = region.providers.get(cur.parent_provider_uuid or "")
        return False

    def _reroot(self, region: RegionState, rp: ResourceProvider, root: str) -> None:
        rp.root_provider_uuid = root
        for child in region.providers.values():
            if child.parent_provider_uuid == rp.uuid:
                self._reroot(region, child, root)

    def delete_provider(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:delete")
        region = self._region(req)
        rp = region.providers.get(uuid) or region.providers.get(
            _norm_uuid(uuid) if _is_uuid(uuid) else "")
        if rp is None:
            raise perr(req, 404, f"No resource provider with uuid {uuid} found for delete")
        if any(rp.uuid in c.allocations for c in region.consumers.values()):
            raise perr(req, 409, f"Unable to delete resource provider {rp.uuid}: Resource "
                                 "provider has allocations.", PROVIDER_IN_USE)
        if any(r.parent_provider_uuid == rp.uuid for r in region.providers.values()):
            raise perr(req, 409, f"Unable to delete parent resource provider {rp.uuid}: It "
                                 "has child resource providers.", CANNOT_DELETE_PARENT)
        del region.providers[rp.uuid]
        return self._empty()

    # --- inventories ---------------------------------------------------------------------------

    @staticmethod
    def _inv_json(inv: Inventory) -> dict[str, Any]:
        return {"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
                "max_unit": inv.max_unit or inv.total, "step_size": inv.step_size,
                "allocation_ratio": float(inv.allocation_ratio)}

    def _inventory_from(self, req: Request, rp: ResourceProvider, rc: str, raw: Any,
                        allowed: tuple[str, ...], required: tuple[str, ...]) -> Inventory:
        doc = self._check_obj(req, raw, allowed, required)
        for key in _INV_FIELDS:
            if key not in doc:
                continue
            value = doc[key]
            if key == "allocation_ratio":
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise self._invalid(req, f"{json.dumps(value)} is not of type 'number'")
                continue
            if not _is_int(value):
                raise self._invalid(req, f"{json.dumps(value)} is not of type 'integer'")
            low = 0 if key == "reserved" else 1
            if value < low:
                raise self._invalid(req, f"{value} is less than the minimum of {low}")
            if value > MAX_INT:
                raise self._invalid(req, f"{value} is greater than the maximum of {MAX_INT}")
        data = {**_INV_DEFAULTS, **{k: doc[k] for k in _INV_FIELDS if k in doc}}
        inv = Inventory(total=data["total"], reserved=data["reserved"],
                        min_unit=data["min_unit"], max_unit=data["max_unit"],
                        step_size=data["step_size"],
                        allocation_ratio=float(data["allocation_ratio"]))
        capacity = inv.total - inv.reserved
        if capacity < 0 or (capacity == 0 and not req.mv_at_least(1, 26)):
            relation = "greater than" if req.mv_at_least(1, 26) else "greater than or equal to"
            raise perr(req, 400, f"Unable to update inventory for resource provider "
                                 f"{rp.uuid}: Invalid inventory for '{rc}' on resource "
                                 f"provider '{rp.uuid}'. The reserved value is {relation} "
                                 "total.")
        return inv

    def _inventories_doc(self, rp: ResourceProvider) -> dict[str, Any]:
        return {"resource_provider_generation": rp.generation,
                "inventories": {rc: self._inv_json(i) for rc, i in rp.inventories.items()}}

    def get_inventories(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:inventories:list")
        return self._ok(req, self._inventories_doc(self._rp(req, uuid)))

    def get_inventory(self, req: Request, uuid: str, rc: str) -> Response:
        self._policy(req, "resource_providers:inventories:show")
        rp = self._rp(req, uuid)
        inv = rp.inventories.get(rc)
        if inv is None:
            raise perr(req, 404, f"No inventory of class {rc} for {rp.uuid}")
        return self._ok(req, {**self._inv_json(inv),
                              "resource_provider_generation": rp.generation})

    def _in_use(self, rp: ResourceProvider, rc: str) -> bool:
        return rp.used.get(rc, 0) > 0

    def set_inventories(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:inventories:update")
        rp = self._rp(req, uuid)
        doc = self._check_obj(req, self._body(req), ("resource_provider_generation",
                                                     "inventories"),
                              ("resource_provider_generation", "inventories"))
        if not _is_int(doc["resource_provider_generation"]):
            raise self._invalid(req, f"{json.dumps(doc['resource_provider_generation'])} is "
                                     "not of type 'integer'")
        if not isinstance(doc["inventories"], dict):
            raise self._invalid(req, f"{json.dumps(doc['inventories'])} is not of type "
                                     "'object'")
        if doc["resource_provider_generation"] != rp.generation:
            raise perr(req, 409, "resource provider generation conflict", CONCURRENT_UPDATE)
        new: dict[str, Inventory] = {}
        for rc, raw in doc["inventories"].items():
            if not RC_PATTERN.match(rc):
                raise self._invalid(req, f"Additional properties are not allowed ('{rc}' was "
                                         "unexpected)")
            new[rc] = self._inventory_from(req, rp, rc, raw, _INV_FIELDS, ("total",))
        unknown = sorted(set(new) - self._known_rcs(req))
        if unknown:
            raise perr(req, 400, f"Unknown resource class in inventory for resource provider "
                                 f"{rp.uuid}: No such resource class {unknown[0]}.")
        for rc in rp.inventories:
            if rc not in new and self._in_use(rp, rc):
                raise perr(req, 409, f"update conflict: Inventory for '{rc}' on resource "
                                     f"provider '{rp.uuid}' in use.", INVENTORY_INUSE)
        rp.inventories = new
        rp.generation += 1
        return self._ok(req, self._inventories_doc(rp))

    def create_inventory(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:inventories:create")
        rp = self._rp(req, uuid)
        doc = self._body(req)
        raw_rc = doc.get("resource_class") if isinstance(doc, dict) else None
        inv = self._inventory_from(req, rp, str(raw_rc), doc,
                                   _INV_FIELDS + ("resource_class",
                                                  "resource_provider_generation"),
                                   ("total", "resource_class"))
        rc = doc["resource_class"]
        if not isinstance(rc, str) or not RC_PATTERN.match(rc):
            raise self._invalid(req, f"{json.dumps(rc)} does not match '^[A-Z0-9_]+$'")
        if rc not in self._known_rcs(req):
            raise perr(req, 400, f"Unable to create inventory for resource provider "
                                 f"{rp.uuid}: No such resource class {rc}.")
        if rc in rp.inventories:
            raise perr(req, 409, f"Update conflict: Inventory for '{rc}' on resource provider "
                                 f"'{rp.uuid}' already exists.", CONCURRENT_UPDATE)
        rp.inventories[rc] = inv
        rp.generation += 1
        location = f"{self._prefix(req)}/resource_providers/{rp.uuid}/inventories/{rc}"
        return self._ok(req, {**self._inv_json(inv),
                              "resource_provider_generation": rp.generation}, 201,
                        Location=location)

    def update_inventory(self, req: Request, uuid: str, rc: str) -> Response:
        self._policy(req, "resource_providers:inventories:update")
        rp = self._rp(req, uuid)
        doc = self._body(req)
        inv = self._inventory_from(req, rp, rc, doc,
                                   _INV_FIELDS + ("resource_provider_generation",),
                                   ("total", "resource_provider_generation"))
        if not _is_int(doc["resource_provider_generation"]):
            raise self._invalid(req, f"{json.dumps(doc['resource_provider_generation'])} is "
                                     "not of type 'integer'")
        if doc["resource_provider_generation"] != rp.generation:
            raise perr(req, 409, "resource provider generation conflict", CONCURRENT_UPDATE)
        if rc not in rp.inventories:
            raise perr(req, 400, f"No inventory record with resource class for resource "
                                 f"provider {rp.uuid}: No inventory of class {rc} found for "
                                 f"resource provider {rp.uuid}.")
        rp.inventories[rc] = inv
        rp.generation += 1
        return self._ok(req, {**self._inv_json(inv),
                              "resource_provider_generation": rp.generation})

    def delete_inventory(self, req: Request, uuid: str, rc: str) -> Response:
        self._policy(req, "resource_providers:inventories:delete")
        rp = self._rp(req, uuid)
        if rc not in rp.inventories:
            raise perr(req, 404, f"No inventory of class {rc} found for delete: No inventory "
                                 f"of class {rc} found for resource provider {rp.uuid}.")
        if self._in_use(rp, rc):
            raise perr(req, 409, f"Unable to delete inventory of class {rc}: Inventory for "
                                 f"'{rc}' on resource provider '{rp.uuid}' in use.",
                       CONCURRENT_UPDATE)
        del rp.inventories[rc]
        rp.generation += 1
        return self._empty()

    def delete_inventories(self, req: Request, uuid: str) -> Response:
        if not req.mv_at_least(1, 5):
            raise perr(req, 405, "The method specified is not allowed for this resource.")
        self._policy(req, "resource_providers:inventories:delete")
        rp = self._rp(req, uuid)
        for rc in rp.inventories:
            if self._in_use(rp, rc):
                raise perr(req, 409, f"Inventory for '{rc}' on resource provider "
                                     f"'{rp.uuid}' in use.", INVENTORY_INUSE)
        rp.inventories = {}
        rp.generation += 1
        return self._empty()

    # --- traits ---------------------------------------------------------------------------------

    def list_traits(self, req: Request) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "traits:list")
        names = self._known_traits(req)
        if (raw := req.arg("name")) is not None:
            op, sep, value = raw.partition(":")
            if not sep or op not in ("in", "startswith"):
                raise perr(req, 400, "Badly formatted name parameter. Expected name query "
                                     "string parameter in form: ?name=[in|startswith]:[name1,"
                                     f'name2|prefix]. Got: "{raw}"')
            if op == "in":
                names &= set(value.split(","))
            else:
                names = {n for n in names if n.startswith(value)}
        if (assoc := req.arg("associated")) is not None:
            if assoc.lower() not in ("true", "false"):
                raise perr(req, 400, 'The query parameter "associated" only accepts "true" or '
                                     '"false"')
            used: set[str] = set()
            for rp in self._region(req).providers.values():
                used |= rp.traits
            names = names & used if assoc.lower() == "true" else names - used
        return self._ok(req, {"traits": sorted(names)})

    def get_trait(self, req: Request, name: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "traits:show")
        if name not in self._known_traits(req):
            raise perr(req, 404, f"No such trait(s): {name}.")
        return self._empty()

    def put_trait(self, req: Request, name: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "traits:update")
        if not CUSTOM_PATTERN.match(name) or len(name) > 255:
            raise perr(req, 400, 'The trait is invalid. A valid trait must be no longer than '
                                 '255 characters, start with the prefix "CUSTOM_" and use '
                                 'following characters: "A"-"Z", "0"-"9" and "_"')
        location = f"{self._prefix(req)}/traits/{name}"
        if name in self._known_traits(req):
            return self._empty(204, Location=location)
        self._x(req).custom_traits.add(name)
        return self._empty(201, Location=location)

    def delete_trait(self, req: Request, name: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "traits:delete")
        if name not in self._known_traits(req):
            raise perr(req, 404, f"No such trait(s): {name}.")
        if not name.startswith("CUSTOM_"):
            raise perr(req, 400, f"Cannot delete standard trait {name}.")
        if any(name in rp.traits for rp in self._region(req).providers.values()):
            raise perr(req, 409, f"The trait {name} is in use by a resource provider.")
        self._x(req).custom_traits.discard(name)
        return self._empty()

    def provider_traits(self, req: Request, uuid: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "resource_providers:traits:list")
        rp = self._rp(req, uuid)
        return self._ok(req, {"traits": sorted(rp.traits),
                              "resource_provider_generation": rp.generation})

    def set_provider_traits(self, req: Request, uuid: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "resource_providers:traits:update")
        doc = self._check_obj(req, self._body(req), ("traits", "resource_provider_generation"),
                              ("traits", "resource_provider_generation"))
        traits = doc["traits"]
        if not isinstance(traits, list) or not all(isinstance(t, str) for t in traits):
            raise self._invalid(req, f"{json.dumps(traits)} is not of type 'array'")
        if len(set(traits)) != len(traits):
            raise self._invalid(req, f"{json.dumps(traits)} has non-unique elements")
        if not _is_int(doc["resource_provider_generation"]):
            raise self._invalid(req, f"{json.dumps(doc['resource_provider_generation'])} is "
                                     "not of type 'integer'")
        rp = self._rp(req, uuid)
        if rp.generation != doc["resource_provider_generation"]:
            raise perr(req, 409, "Resource provider's generation already changed. Please "
                                 "update the generation and try again.", CONCURRENT_UPDATE)
        missing = sorted(set(traits) - self._known_traits(req))
        if missing:
            raise perr(req, 400, f"No such trait {', '.join(missing)}")
        rp.traits = set(traits)
        rp.generation += 1
        return self._ok(req, {"traits": sorted(rp.traits),
                              "resource_provider_generation": rp.generation})

    def delete_provider_traits(self, req: Request, uuid: str) -> Response:
        self._need(req, 1, 6)
        self._policy(req, "resource_providers:traits:delete")
        rp = self._rp(req, uuid)
        rp.traits = set()
        rp.generation += 1
        return self._empty()

    # --- aggregates -----------------------------------------------------------------------------

    def _aggs_doc(self, req: Request, rp: ResourceProvider) -> dict[str, Any]:
        out: dict[str, Any] = {"aggregates": sorted(rp.aggregates)}
        if req.mv_at_least(1, 19):
            out["resource_provider_generation"] = rp.generation
        return out

    def provider_aggregates(self, req: Request, uuid: str) -> Response:
        self._need(req, 1, 1)
        self._policy(req, "resource_providers:aggregates:list")
        return self._ok(req, self._aggs_doc(req, self._rp(req, uuid)))

    def set_provider_aggregates(self, req: Request, uuid: str) -> Response:
        self._need(req, 1, 1)
        self._policy(req, "resource_providers:aggregates:update")
        rp = self._rp(req, uuid)
        body = self._body(req)
        if req.mv_at_least(1, 19):
            doc = self._check_obj(req, body, ("aggregates", "resource_provider_generation"),
                                  ("aggregates", "resource_provider_generation"))
            aggs, gen = doc["aggregates"], doc["resource_provider_generation"]
            if not _is_int(gen):
                raise self._invalid(req, f"{json.dumps(gen)} is not of type 'integer'")
        else:
            aggs, gen = body, None
        if not isinstance(aggs, list):
            raise self._invalid(req, f"{json.dumps(aggs)} is not of type 'array'")
        bad = [a for a in aggs if not _is_uuid(a)]
        if bad:
            raise self._invalid(req, f"{json.dumps(bad[0])} is not a 'uuid'")
        if len(set(aggs)) != len(aggs):
            raise self._invalid(req, f"{json.dumps(aggs)} has non-unique elements")
        if gen is not None and gen != rp.generation:
            raise perr(req, 409, "Unable to update inventory for resource provider "
                                 f"{rp.uuid}: resource provider generation conflict",
                       CONCURRENT_UPDATE)
        rp.aggregates = set(aggs)
        if req.mv_at_least(1, 19):
            rp.generation += 1
        return self._ok(req, self._aggs_doc(req, rp))

    # --- resource classes -----------------------------------------------------------------------

    def _rc_json(self, req: Request, name: str) -> dict[str, Any]:
        return {"name": name, "links": [{"rel": "self",
                                         "href": f"{self._prefix(req)}/resource_classes/{name}"}]}

    def list_rcs(self, req: Request) -> Response:
        self._need(req, 1, 2)
        self._policy(req, "resource_classes:list")
        names = list(STANDARD_RESOURCE_CLASSES) + self._x(req).custom_rcs
        return self._ok(req, {"resource_classes": [self._rc_json(req, n) for n in names]})

    def get_rc(self, req: Request, name: str) -> Response:
        self._need(req, 1, 2)
        self._policy(req, "resource_classes:show")
        if name not in self._known_rcs(req):
            raise perr(req, 404, f"No such resource class {name}.")
        return self._ok(req, self._rc_json(req, name))

    def _check_custom_rc(self, req: Request, name: Any) -> None:
        if not isinstance(name, str) or not CUSTOM_PATTERN.match(name) or len(name) > 255:
            raise self._invalid(req, f"{json.dumps(name)} does not match "
                                     "'^CUSTOM\\\\_[A-Z0-9_]+$'")

    def create_rc(self, req: Request) -> Response:
        self._need(req, 1, 2)
        self._policy(req, "resource_classes:create")
        doc = self._check_obj(req, self._body(req), ("name",), ("name",))
        self._check_custom_rc(req, doc["name"])
        if doc["name"] in self._known_rcs(req):
            raise perr(req, 409, f"Conflicting resource class already exists: {doc['name']}",
                       DUPLICATE_NAME)
        self._x(req).custom_rcs.append(doc["name"])
        return self._empty(201, Location=f"{self._prefix(req)}/resource_classes/{doc['name']}")

    def put_rc(self, req: Request, name: str) -> Response:
        self._need(req, 1, 2)
        self._policy(req, "resource_classes:update")
        if not req.mv_at_least(1, 7):
            # 1.2–1.6: PUT renames a custom class
            doc = self._check_obj(req, self._body(req), ("name",), ("name",))
            self._check_custom_rc(req, doc["name"])
            custom = self._x(req).custom_rcs
            if name not in custom:
                raise perr(req, 404 if name not in self._known_rcs(req) else 400,
                           f"No such resource class {name}." if name not in
                           self._known_rcs(req) else "Cannot update standard resource class "
                                                     f"{name}")
            if doc["name"] in self._known_rcs(req):
                raise perr(req, 409, "Resource class already exists: " + doc["name"],
                           DUPLICATE_NAME)
            custom[custom.index(name)] = doc["name"]
            return self._ok(req, self._rc_json(req, doc["name"]))
        self._check_custom_rc(req, name)
        location = f"{self._prefix(req)}/resource_classes/{name}"
        if name in self._known_rcs(req):
            return self._empty(204, Location=location)
        self._x(req).custom_rcs.append(name)
        return self._empty(201, Location=location)

    def delete_rc(self, req: Request, name: str) -> Response:
        self._need(req, 1, 2)
        self._policy(req, "resource_classes:delete")
        if name not in self._known_rcs(req):
            raise perr(req, 404, f"No such resource class {name}.")
        if name in STANDARD_RESOURCE_CLASSES:
            raise perr(req, 400, f"Cannot delete standard resource class {name}: Cannot "
                                 "delete standard resource class.")
        if any(name in rp.inventories for rp in self._region(req).providers.values()):
            raise perr(req, 409, f"Unable to delete resource class {name}: Resource class in "
                                 f"use: {name}")
        self._x(req).custom_rcs.remove(name)
        return self._empty()
