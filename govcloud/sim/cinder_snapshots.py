"""Cinder v3 volume snapshots (cinder/api/v3/snapshots.py, cinder/volume/api.py): create
(``creating`` → ``available``; an ``in-use`` volume needs ``force`` before 3.66, and from 3.66
``force`` false is refused), list/detail with filters, paging and sorting, show, update,
delete (``deleting`` → gone; only ``available`` or ``error``), the ``os-reset_status`` and
``os-force_delete`` admin actions, and quota (``snapshots``, and ``gigabytes`` counts a
snapshot's size as Cinder does). Shared list paging for snapshots and backups lives here too.

A snapshot carries no guest data: volumes in the simulator hold none (docs/simulator.md).
"""

from __future__ import annotations

import ast
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from govcloud.sim.cinder_admin import MAX_LIMIT, CinderBase, cts, over_limit
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    bad_request,
    json_response,
    not_found,
)
from govcloud.sim.model import Snapshot, now
from govcloud.sim.state import UNLIMITED, RegionState

SNAPSHOT_FILTERS = {"status", "volume_id", "name", "metadata"}
PAGE_CONTROL = {"limit", "marker", "offset", "sort", "sort_key", "sort_dir", "all_tenants",
                "with_count", "project_id"}
IN_USE_FORCE_MSG = ("Since microversion 3.66 the 'force' flag is invalid for this request.  "
                    "For backward compatability, however, when the 'force' flag is passed "
                    "with a value evaluating to True, it is silently ignored.")


def bool_strict(value: Any, field: str) -> bool:
    """oslo's ``bool_from_string(strict=True)`` as Cinder's schema and controller apply it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise bad_request(f"Invalid input for field/attribute {field}. Value: {value}. "
                      f"{value!r} is not valid under any of the given schemas")


def page(req: Request, items: Sequence[Any], *, collection: str, path: str, project: str,
         render: Callable[[Request, Any], dict[str, Any]],
         sort_keys: tuple[str, ...]) -> Response:
    """Cinder's common listing: ``sort`` (or ``sort_key``/``sort_dir``), ``marker``,
    ``offset``, ``limit`` (capped at 1000 with a ``next`` link) and ``with_count`` (3.45)."""
    keys: list[tuple[str, str]] = []
    if (sort := req.arg("sort")) is not None:
        if req.arg("sort_key") or req.arg("sort_dir"):
            raise bad_request("The 'sort_key' and 'sort_dir' parameters are deprecated and "
                              "cannot be used with the 'sort' parameter.")
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            keys.append((key, direction or "desc"))
    else:
        keys = [(req.arg("sort_key") or "created_at", req.arg("sort_dir") or "desc")]
    for key, direction in keys:
        if direction not in ("asc", "desc"):
            raise bad_request(f"Invalid sort direction: {direction}")
        if key not in sort_keys:
            raise bad_request(f"Invalid input received: Invalid sort key {key}")
    if "id" not in [k for k, _ in keys]:
        keys.append(("id", keys[-1][1]))
    rows = list(items)
    for key, direction in reversed(keys):
        attr = "name" if key == "display_name" else key

        def value(x: Any, a: str = attr) -> tuple[bool, Any]:
            return getattr(x, a) is not None, getattr(x, a) or ""
        rows.sort(key=value, reverse=direction == "desc")
    total = len(rows)
    if (marker := req.arg("marker")) is not None:
        ids = [x.id for x in rows]
        if marker not in ids:
            raise not_found(f"Marker {marker} could not be found.")
        rows = rows[ids.index(marker) + 1:]
    rows = rows[req.int_arg("offset", 0) or 0:]
    limit = req.int_arg("limit")
    cap = min(limit, MAX_LIMIT) if limit is not None else MAX_LIMIT
    shown = rows[:cap]
    body: dict[str, Any] = {collection: [render(req, x) for x in shown]}
    if shown and len(shown) == cap and len(rows) > cap:
        params = [(k, v) for k, vs in req.query.items() if k != "marker" for v in vs]
        params.append(("marker", shown[-1].id))
        body[f"{collection}_links"] = [{"rel": "next", "href": f"{req.base_url}/v3/{project}/"
                                                               f"{path}?{urlencode(params)}"}]
    if req.mv_at_least(3, 45) and (req.arg("with_count") or "").lower() in ("1", "true"):
        body["count"] = total
    return json_response(body)


class CinderSnapshotsMixin(CinderBase):
    """The ``/snapshots`` resource."""

    def snapshot_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/snapshots", self.list_snapshots),
                ("GET", "/snapshots/detail", self.list_snapshots_detail),
                ("POST", "/snapshots", self.create_snapshot),
                ("GET", "/snapshots/{snapshot_id}", self.get_snapshot),
                ("PUT", "/snapshots/{snapshot_id}", self.update_snapshot),
                ("DELETE", "/snapshots/{snapshot_id}", self.delete_snapshot),
                ("POST", "/snapshots/{snapshot_id}/action", self.snapshot_action)]

    # --- views -----------------------------------------------------------------------------

    @staticmethod
    def _snapshot_summary(req: Request, snap: Snapshot) -> dict[str, Any]:
        return {"id": snap.id, "created_at": cts(snap.created_at),
                "updated_at": cts(snap.updated_at), "name": snap.name,
                "description": snap.description, "volume_id": snap.volume_id,
                "status": snap.status, "size": snap.size, "metadata": dict(snap.metadata)}

    def _snapshot_detail(self, req: Request, snap: Snapshot) -> dict[str, Any]:
        doc = self._snapshot_summary(req, snap)
        if req.mv_at_least(3, 14):
            doc["group_snapshot_id"] = None
        if req.mv_at_least(3, 41):
            doc["user_id"] = snap.user_id
        if req.mv_at_least(3, 65):
            doc["consumes_quota"] = True
        return doc

    def _snapshot_shown(self, req: Request, snap: Snapshot) -> dict[str, Any]:
        """Show and detail: the view plus os-extended-snapshot-attributes."""
        doc = self._snapshot_detail(req, snap)
        doc["os-extended-snapshot-attributes:project_id"] = snap.project_id
        doc["os-extended-snapshot-attributes:progress"] = \
            "100%" if snap.status == "available" else "0%"
        return doc

    # --- lookups -----------------------------------------------------------------------------

    def _snapshot(self, req: Request, snapshot_id: str) -> Snapshot:
        snap = self._region(req).snapshots.get(snapshot_id)
        if snap is None or not (req.auth.is_admin or snap.project_id == self._project(req)):
            raise not_found(f"Snapshot {snapshot_id} could not be found.")
        return snap

    def _snapshots_listed(self, req: Request) -> list[Snapshot]:
        snaps = list(self._region(req).snapshots.values())
        all_tenants = (req.arg("all_tenants") or "").lower() in ("1", "true", "yes", "on")
        if req.auth.is_admin and all_tenants:
            if (pid := req.arg("project_id")) is not None:
                snaps = [s for s in snaps if s.project_id == pid]
        else:
            snaps = [s for s in snaps if s.project_id == self._project(req)]
        unknown = sorted(k for k in req.query if k not in SNAPSHOT_FILTERS | PAGE_CONTROL)
        if unknown and not req.auth.is_admin:
            raise bad_request(f"Invalid filters {', '.join(unknown)} are found in query "
                              "options.")
        for key in ("status", "volume_id", "name"):
            if (want := req.arg(key)) is not None:
                snaps = [s for s in snaps if getattr(s, key) == want]
        if (meta := req.arg("metadata")) is not None and req.mv_at_least(3, 22):
            wanted = self._meta_filter(meta)
            snaps = [s for s in snaps if all(s.metadata.get(k) == str(v)
                                             for k, v in wanted.items())]
        return snaps

    @staticmethod
    def _meta_filter(value: str) -> dict[str, Any]:
        try:
            wanted = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise bad_request(f"Invalid metadata filter: {value}") from None
        if not isinstance(wanted, dict):
            raise bad_request(f"Invalid metadata filter: {value}")
        return wanted

    # --- quota -----------------------------------------------------------------------------

    def _check_snapshot_quota(self, region: RegionState, project_id: str, size: int) -> None:
        quota = region.volume_quota(project_id)
        used = self._usage(region, project_id)
        if quota["gigabytes"] != UNLIMITED and used["gigabytes"] + size > quota["gigabytes"]:
            raise over_limit(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                             f"exceeds allowed gigabytes quota. Requested {size}G, quota is "
                             f"{quota['gigabytes']}G and {used['gigabytes']}G has been "
                             "consumed.")
        if quota["snapshots"] != UNLIMITED and used["snapshots"] + 1 > quota["snapshots"]:
            raise over_limit(f"SnapshotLimitExceeded: Maximum number of snapshots allowed "
                             f"({quota['snapshots']}) exceeded")

    # --- handlers ----------------------------------------------------------------------------

    def list_snapshots(self, req: Request, project_id: str | None = None) -> Response:
        return page(req, self._snapshots_listed(req), collection="snapshots",
                    path="snapshots", project=self._project(req),
                    render=self._snapshot_summary, sort_keys=SNAPSHOT_SORT_KEYS)

    def list_snapshots_detail(self, req: Request, project_id: str | None = None) -> Response:
        return page(req, self._snapshots_listed(req), collection="snapshots",
                    path="snapshots/detail", project=self._project(req),
                    render=self._snapshot_shown, sort_keys=SNAPSHOT_SORT_KEYS)

    def get_snapshot(self, req: Request, snapshot_id: str, project_id: str | None = None
                     ) -> Response:
        return json_response({"snapshot": self._snapshot_shown(
            req, self._snapshot(req, snapshot_id))})

    def create_snapshot(self, req: Request, project_id: str | None = None) -> Response:
        body = self._body(req, "snapshot")
        extra = sorted(set(body) - {"volume_id", "force", "name", "description", "metadata",
                                    "display_name", "display_description"})
        if extra:
            raise self._invalid("snapshot", body, "Additional properties are not allowed "
                                                  f"('{extra[0]}' was unexpected)")
        if not isinstance(body.get("volume_id"), str):
            raise self._invalid("snapshot", body, "'volume_id' is a required property")
        for key in ("name", "description", "display_name", "display_description"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise self._invalid(key, value, f"{value!r} is not valid under any of the "
                                                "given schemas")
        metadata = self._metadata(body.get("metadata") or {})
        vol = self._get(req, body["volume_id"])
        allowed: tuple[str, ...] = ("available",)
        if body.get("force") is not None:
            force = bool_strict(body["force"], "force")
            if req.mv_at_least(3, 66) and not force:
                raise bad_request(IN_USE_FORCE_MSG)
            if force:
                allowed = ("available", "in-use")
        if req.mv_at_least(3, 66):
            allowed = ("available", "in-use")
        if vol.status not in allowed:
            raise bad_request(f"Invalid volume: Volume {vol.id} status must be "
                              f"{', '.join(allowed)}, but current status is: {vol.status}.")
        region = self._region(req)
        owner = self._project(req)
        self._check_snapshot_quota(region, owner, vol.size)
        ts = now()
        snap = Snapshot(id=str(uuidlib.uuid4()), volume_id=vol.id, project_id=owner,
                        user_id=req.auth.user_id, size=vol.size,
                        name=body.get("name", body.get("display_name")),
                        description=body.get("description", body.get("display_description")),
                        metadata=metadata, created_at=ts, updated_at=ts,
                        ready_at=time.time() + max(0.1, region.build_delay))
        region.snapshots[snap.id] = snap
        return json_response({"snapshot": self._snapshot_detail(req, snap)}, 202)

    def update_snapshot(self, req: Request, snapshot_id: str, project_id: str | None = None
                        ) -> Response:
        snap = self._snapshot(req, snapshot_id)
        body = self._body(req, "snapshot")
        allowed = {"name", "description", "display_name", "display_description"}
        extra = sorted(set(body) - allowed)
        if extra or not body:
            why = (f"Additional properties are not allowed ('{extra[0]}' was unexpected)"
                   if extra else "{} does not have enough properties")
            raise self._invalid("snapshot", body, why)
        for key, value in body.items():
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise self._invalid(key, value, f"{value!r} is not valid under any of the "
                                                "given schemas")
            setattr(snap, "name" if "name" in key else "description", value)
        snap.updated_at = now()
        return json_response({"snapshot": self._snapshot_detail(req, snap)})

    def delete_snapshot(self, req: Request, snapshot_id: str, project_id: str | None = None
                        ) -> Response:
        snap = self._snapshot(req, snapshot_id)
        if snap.status not in ("available", "error"):
            raise bad_request("Invalid snapshot: Snapshot status must be available or error "
                              "and must not be part of a group.")
        self._start_delete(self._region(req), snap)
        return Response(status=202)

    @staticmethod
    def _start_delete(region: RegionState, snap: Snapshot) -> None:
        snap.status = "deleting"
        snap.updated_at = now()
        snap.ready_at = time.time() + max(0.1, region.build_delay / 2)

    def snapshot_action(self, req: Request, snapshot_id: str,
                        project_id: str | None = None) -> Response:
        snap = self._snapshot(req, snapshot_id)
        try:
            doc = req.json()
        except ApiError:
            raise bad_request("Malformed request body") from None
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("There is no such action: None")
        name, arg = next(iter(doc.items()))
        if name == "os-reset_status":
            self._policy(req, "volume_extension:snapshot_admin_actions:reset_status")
            status = arg.get("status") if isinstance(arg, dict) else None
            if status not in ("creating", "available", "deleting", "error", "error_deleting",
                              "backing-up", "restoring", "unmanaging"):
                raise bad_request(f"Invalid input for field/attribute status. Value: {status}.")
            snap.status = status
            snap.updated_at = now()
            return Response(status=202)
        if name == "os-force_delete":
            self._policy(req, "volume_extension:snapshot_admin_actions:force_delete")
            self._start_delete(self._region(req), snap)
            return Response(status=202)
        raise bad_request(f"There is no such action: {name}")


SNAPSHOT_SORT_KEYS = ("id", "name", "display_name", "status", "size", "created_at",
                      "updated_at", "volume_id", "project_id", "user_id")
