"""Placement usages, allocations and allocation candidates (see placement.py)."""

from __future__ import annotations

import json
from typing import Any

from govcloud.sim.http import Request, Response
from govcloud.sim.model import Consumer
from govcloud.sim.placement_base import (
    CONCURRENT_UPDATE,
    CONSUMER_TYPE_PATTERN,
    RC_PATTERN,
    PlacementBase,
    _is_int,
    _is_uuid,
    _norm_uuid,
    perr,
)


class AllocationsMixin(PlacementBase):
    # --- usages -----------------------------------------------------------------------------

    def provider_usages(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:usages")
        rp = self._rp(req, uuid)
        usages = {rc: rp.used.get(rc, 0) for rc in rp.inventories}
        return self._ok(req, {"resource_provider_generation": rp.generation,
                              "usages": usages})

    def usages(self, req: Request) -> Response:
        self._need(req, 1, 9)
        allowed = {"project_id", "user_id"} | ({"consumer_type"} if req.mv_at_least(1, 38)
                                               else set())
        extra = sorted(set(req.query) - allowed)
        if extra:
            raise perr(req, 400, "Invalid query string parameters: Additional properties are "
                                 "not allowed (" + ", ".join(f"'{k}'" for k in extra)
                                 + (" were" if len(extra) > 1 else " was") + " unexpected)")
        project_id = req.arg("project_id")
        if not project_id:
            raise perr(req, 400, "Invalid query string parameters: 'project_id' is a required "
                                 "property")
        auth = req.auth
        if not auth.is_admin and auth.project_id != project_id:
            raise perr(req, 403, "Policy does not allow placement:usages to be performed.")
        user_id = req.arg("user_id")
        ctype = req.arg("consumer_type")
        consumers = [c for c in self._region(req).consumers.values()
                     if c.project_id == project_id and (user_id is None or c.user_id == user_id)
                     and c.allocations]
        if not req.mv_at_least(1, 38):
            return self._ok(req, {"usages": self._sum(consumers)})
        groups: dict[str, list[Consumer]] = {}
        for c in consumers:
            key = c.consumer_type or "unknown"
            if ctype == "all":
                key = "all"
            elif ctype is not None and key != ctype:
                continue
            groups.setdefault(key, []).append(c)
        out = {k: {"consumer_count": len(v), **self._sum(v)} for k, v in groups.items()}
        return self._ok(req, {"usages": out})

    @staticmethod
    def _sum(consumers: list[Consumer]) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in consumers:
            for resources in c.allocations.values():
                for rc, amount in resources.items():
                    total[rc] = total.get(rc, 0) + amount
        return total

    # --- allocations ----------------------------------------------------------------------------

    def provider_allocations(self, req: Request, uuid: str) -> Response:
        self._policy(req, "resource_providers:allocations:list")
        region = self._region(req)
        rp = region.providers.get(uuid)
        if rp is None:
            raise perr(req, 404, f"Resource provider '{uuid}' not found: No resource provider "
                                 f"with uuid {uuid} found")
        out: dict[str, Any] = {}
        for c in region.consumers.values():
            resources = c.allocations.get(rp.uuid)
            if resources:
                entry: dict[str, Any] = {"resources": dict(resources)}
                if req.mv_at_least(1, 28):
                    entry["consumer_generation"] = c.generation
                out[c.uuid] = entry
        return self._ok(req, {"allocations": out, "resource_provider_generation": rp.generation})

    def _consumer_json(self, req: Request, c: Consumer | None) -> dict[str, Any]:
        region = self._region(req)
        if c is None or not c.allocations:
            return {"allocations": {}}
        allocs = {}
        for rp_uuid, resources in c.allocations.items():
            rp = region.providers.get(rp_uuid)
            allocs[rp_uuid] = {"generation": rp.generation if rp else 0,
                               "resources": dict(resources)}
        out: dict[str, Any] = {"allocations": allocs}
        if req.mv_at_least(1, 12):
            out["project_id"] = c.project_id
            out["user_id"] = c.user_id
            if req.mv_at_least(1, 28):
                out["consumer_generation"] = c.generation
            if req.mv_at_least(1, 38):
                out["consumer_type"] = c.consumer_type or "unknown"
        return out

    def get_allocations(self, req: Request, consumer: str) -> Response:
        self._policy(req, "allocations:list")
        c = self._region(req).consumers.get(consumer)
        return self._ok(req, self._consumer_json(req, c))

    def _parse_consumer_doc(self, req: Request, cid: str, doc: Any, *, post: bool
                            ) -> dict[str, Any]:
        """Validate one consumer's body against the microversion's schema; normalise to
        ``{"allocations": {rp: {rc: n}}, project_id, user_id, generation?, type?}``."""
        if not isinstance(doc, dict):
            raise self._invalid(req, f"{json.dumps(doc)} is not of type 'object'")
        mv12 = req.mv_at_least(1, 12)
        allowed = ["allocations"]
        required = ["allocations"]
        if req.mv_at_least(1, 8):
            allowed += ["project_id", "user_id"]
            required += ["project_id", "user_id"]
        if req.mv_at_least(1, 28):
            allowed.append("consumer_generation")
            required.append("consumer_generation")
        if req.mv_at_least(1, 34):
            allowed.append("mappings")
        if req.mv_at_least(1, 38):
            allowed.append("consumer_type")
            required.append("consumer_type")
        self._check_obj(req, doc, tuple(allowed), tuple(required))
        for key in ("project_id", "user_id"):
            if key in doc and (not isinstance(doc[key], str) or not 1 <= len(doc[key]) <= 255):
                raise self._invalid(req, f"{json.dumps(doc[key])} is not of type 'string'")
        gen = doc.get("consumer_generation")
        if gen is not None and not _is_int(gen):
            raise self._invalid(req, f"{json.dumps(gen)} is not of type 'integer', 'null'")
        ctype = doc.get("consumer_type")
        if ctype is not None and (not isinstance(ctype, str)
                                  or not CONSUMER_TYPE_PATTERN.match(ctype)):
            raise self._invalid(req, f"{json.dumps(ctype)} does not match '^[A-Z0-9_]+$'")
        raw = doc["allocations"]
        allocations: dict[str, dict[str, int]] = {}
        if mv12:
            if not isinstance(raw, dict):
                raise self._invalid(req, f"{json.dumps(raw)} is not of type 'object'")
            if not raw and not (post or req.mv_at_least(1, 28)):
                raise self._invalid(req, "{} does not have enough properties")
            for rp_uuid, entry in raw.items():
                if not _is_uuid(rp_uuid):
                    raise self._invalid(req, f"Additional properties are not allowed "
                                             f"('{rp_uuid}' was unexpected)")
                self._check_obj(req, entry, ("resources", "generation"), ("resources",))
                allocations[rp_uuid] = self._resources(req, entry["resources"])
        else:
            if not isinstance(raw, list) or not raw:
                raise self._invalid(req, f"{json.dumps(raw)} is not of type 'array'"
                                    if not isinstance(raw, list) else "[] is too short")
            for entry in raw:
                self._check_obj(req, entry, ("resource_provider", "resources"),
                                ("resource_provider", "resources"))
                rp_doc = self._check_obj(req, entry["resource_provider"], ("uuid",), ("uuid",))
                if not _is_uuid(rp_doc["uuid"]):
                    raise self._invalid(req, f"'{rp_doc['uuid']}' is not a 'uuid'")
                allocations[rp_doc["uuid"]] = self._resources(req, entry["resources"])
        return {"allocations": allocations, "project_id": doc.get("project_id"),
                "user_id": doc.get("user_id"), "generation": gen, "type": ctype,
                "uuid": cid}

    def _resources(self, req: Request, raw: Any) -> dict[str, int]:
        if not isinstance(raw, dict) or not raw:
            raise self._invalid(req, f"{json.dumps(raw)} does not have enough properties"
                                if isinstance(raw, dict) else
                                f"{json.dumps(raw)} is not of type 'object'")
        out = {}
        for rc, amount in raw.items():
            if not RC_PATTERN.match(rc):
                raise self._invalid(req, f"Additional properties are not allowed ('{rc}' was "
                                         "unexpected)")
            if not _is_int(amount):
                raise self._invalid(req, f"{json.dumps(amount)} is not of type 'integer'")
            if amount < 1:
                raise self._invalid(req, f"{amount} is less than the minimum of 1")
            out[rc] = amount
        return out

    def _write(self, req: Request, docs: list[dict[str, Any]]) -> None:
        """Check generations and capacity for every consumer, then apply all or nothing."""
        region = self._region(req)
        mv28 = req.mv_at_least(1, 28)
        # resource providers must exist (400) and resource classes must be known
        for d in docs:
            for rp_uuid in d["allocations"]:
                if _norm_uuid(rp_uuid) not in region.providers:
                    raise perr(req, 400, f"Allocation for resource provider '{rp_uuid}' that "
                                         "does not exist.")
        for d in docs:
            current = region.consumers.get(d["uuid"])
            if mv28:
                if current is not None and current.generation != d["generation"]:
                    raise perr(req, 409, f"consumer generation conflict - expected "
                                         f"{current.generation} but got {d['generation']}",
                               CONCURRENT_UPDATE)
                if current is None and d["generation"] is not None:
                    raise perr(req, 409, f"consumer generation conflict - expected null but "
                                         f"got {d['generation']}", CONCURRENT_UPDATE)
        # usage after removing the consumers' current allocations and adding the new ones
        delta: dict[tuple[str, str], int] = {}
        for d in docs:
            current = region.consumers.get(d["uuid"])
            if current is not None:
                for rp_uuid, res in current.allocations.items():
                    for rc, n in res.items():
                        delta[(rp_uuid, rc)] = delta.get((rp_uuid, rc), 0) - n
            for rp_uuid, res in d["allocations"].items():
                for rc, n in res.items():
                    key = (_norm_uuid(rp_uuid), rc)
                    delta[key] = delta.get(key, 0) + n
        for d in docs:
            for rp_uuid, res in d["allocations"].items():
                rp = region.providers[_norm_uuid(rp_uuid)]
                for rc, amount in res.items():
                    if rc not in self._known_rcs(req):
                        raise perr(req, 400, f"Unable to allocate inventory for consumer "
                                             f"{d['uuid']}: No such resource class {rc}.")
                    inv = rp.inventories.get(rc)
                    if inv is None:
                        raise perr(req, 409, f"Unable to allocate inventory: Inventory for "
                                             f"'{rc}' on resource provider '{rp.uuid}' "
                                             "invalid.")
                    max_unit = inv.max_unit or inv.total
                    if amount < inv.min_unit or amount > max_unit or \
                            amount % (inv.step_size or 1):
                        raise perr(req, 409, f"Unable to allocate inventory: Unable to create "
                                             f"allocation for '{rc}' on resource provider "
                                             f"'{rp.uuid}'. The requested amount would "
                                             "violate inventory constraints.")
                    capacity = (inv.total - inv.reserved) * inv.allocation_ratio
                    after = rp.used.get(rc, 0) + delta.get((rp.uuid, rc), 0)
                    if after > capacity:
                        raise perr(req, 409, f"Unable to allocate inventory: Unable to create "
                                             f"allocation for '{rc}' on resource provider "
                                             f"'{rp.uuid}'. The requested amount would exceed"
                                             " the capacity.")
        # apply
        touched: set[str] = set()
        for d in docs:
            current = region.consumers.pop(d["uuid"], None)
            if current is not None:
                for rp_uuid, res in current.allocations.items():
                    old_rp = region.providers.get(rp_uuid)
                    if old_rp is None:
                        continue
                    for rc, n in res.items():
                        old_rp.used[rc] = max(0, old_rp.used.get(rc, 0) - n)
                    touched.add(rp_uuid)
            if not d["allocations"]:
                continue  # placement deletes consumers left without allocations
            allocations = {_norm_uuid(k): dict(v) for k, v in d["allocations"].items()}
            project_id = d["project_id"] or (current.project_id if current else "")
            user_id = d["user_id"] or (current.user_id if current else "")
            ctype = d["type"] or (current.consumer_type if current else "") or ""
            consumer = Consumer(uuid=d["uuid"], project_id=project_id, user_id=user_id,
                                allocations=allocations,
                                generation=(current.generation if current else 0) + 1,
                                consumer_type=ctype)
            region.consumers[consumer.uuid] = consumer
            for rp_uuid, res in allocations.items():
                rp = region.providers[rp_uuid]
                for rc, n in res.items():
                    rp.used[rc] = rp.used.get(rc, 0) + n
                touched.add(rp_uuid)
        for rp_uuid in touched:
            if rp_uuid in region.providers:
                region.providers[rp_uuid].generation += 1

    def put_allocations(self, req: Request, consumer: str) -> Response:
        self._policy(req, "allocations:update")
        if not _is_uuid(consumer):
            raise perr(req, 400, f"Malformed consumer_uuid: {consumer}")
        cid = _norm_uuid(consumer)
        doc = self._parse_consumer_doc(req, cid, self._body(req), post=False)
        self._write(req, [doc])
        return self._empty()

    def post_allocations(self, req: Request) -> Response:
        self._need(req, 1, 13)
        self._policy(req, "allocations:manage")
        body = self._body(req)
        if not isinstance(body, dict) or not body:
            raise self._invalid(req, f"{json.dumps(body)} does not have enough properties"
                                if isinstance(body, dict) else
                                f"{json.dumps(body)} is not of type 'object'")
        docs = []
        for cid, doc in body.items():
            if not _is_uuid(cid):
                raise self._invalid(req, f"Additional properties are not allowed ('{cid}' was "
                                         "unexpected)")
            docs.append(self._parse_consumer_doc(req, _norm_uuid(cid), doc, post=True))
        self._write(req, docs)
        return self._empty()

    def delete_allocations(self, req: Request, consumer: str) -> Response:
        self._policy(req, "allocations:delete")
        region = self._region(req)
        c = region.consumers.get(consumer)
        if c is None or not c.allocations:
            raise perr(req, 404, f"No allocations for consumer '{consumer}'")
        del region.consumers[consumer]
        for rp_uuid, res in c.allocations.items():
            rp = region.providers.get(rp_uuid)
            if rp is None:
                continue
            for rc, n in res.items():
                rp.used[rc] = max(0, rp.used.get(rc, 0) - n)
            rp.generation += 1
        return self._empty()

    # --- allocation candidates ------------------------------------------------------------------

    def allocation_candidates(self, req: Request) -> Response:
        self._need(req, 1, 10)
        self._policy(req, "allocation_candidates:list")
        raw = req.arg("resources")
        if not raw:
            raise perr(req, 400, "Invalid query string parameters: 'resources' is a required "
                                 "property" if not req.mv_at_least(1, 25) else
                                 "There must be at least one resources or resources[$S] "
                                 "parameter.", "placement.query.missing_value")
        resources = self._parse_resources(req, raw, "resources")
        limit = req.arg("limit")
        if limit is not None and (not limit.isdigit() or int(limit) < 1):
            raise perr(req, 400, f"Invalid query string parameters: '{limit}' does not match "
                                 "'^[1-9][0-9]*$'")
        rps = [r for r in self._region(req).providers.values() if self._has_room(r, resources)]
        if (traits := req.arg("required")) is not None:
            required, forbidden = self._parse_traits(req, traits)
            rps = [r for r in rps if required <= r.traits and not (forbidden & r.traits)]
        if "member_of" in req.query:
            for aggs, negate in self._member_of(req):
                rps = [r for r in rps if bool(r.aggregates & aggs) != negate]
        if limit is not None:
            rps = rps[:int(limit)]
        requests = []
        for rp in rps:
            if req.mv_at_least(1, 12):
                entry: dict[str, Any] = {"allocations": {rp.uuid: {"resources":
                                                                   dict(resources)}}}
            else:
                entry = {"allocations": [{"resource_provider": {"uuid": rp.uuid},
                                          "resources": dict(resources)}]}
            if req.mv_at_least(1, 34):
                entry["mappings"] = {"": [rp.uuid]}
            requests.append(entry)
        summaries = {}
        for rp in rps:
            classes = rp.inventories if req.mv_at_least(1, 27) else resources
            summary: dict[str, Any] = {"resources": {
                rc: {"capacity": int((rp.inventories[rc].total - rp.inventories[rc].reserved)
                                     * rp.inventories[rc].allocation_ratio),
                     "used": rp.used.get(rc, 0)} for rc in classes}}
            if req.mv_at_least(1, 17):
                summary["traits"] = sorted(rp.traits)
            if req.mv_at_least(1, 29):
                summary["parent_provider_uuid"] = rp.parent_provider_uuid
                summary["root_provider_uuid"] = rp.root_provider_uuid or rp.uuid
            summaries[rp.uuid] = summary
        return self._ok(req, {"allocation_requests": requests,
                              "provider_summaries": summaries})
