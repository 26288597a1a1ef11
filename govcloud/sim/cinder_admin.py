"""Cinder internals and admin-side APIs: helpers shared with the volume handlers, volume
types and per-project default types, quota sets, limits, availability zones, services and
extensions (see cinder.py)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid as uuidlib
from typing import Any

from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    bad_request,
    forbidden,
    json_response,
    not_found,
)
from govcloud.sim.model import Volume, now
from govcloud.sim.state import UNLIMITED, Cloud, RegionState

MAX_LIMIT = 1000
VOLUME_FILTERS = {"name", "status", "metadata", "bootable", "availability_zone",
                  "migration_status", "group_id", "created_at", "updated_at", "consumes_quota",
                  "name~", "status~", "availability_zone~"}
LIST_CONTROL = {"limit", "marker", "offset", "sort", "sort_key", "sort_dir", "all_tenants",
                "with_count", "project_id", "is_public"}
DEFAULT_TYPE = "__DEFAULT__"
INVALID_VOLUME = ("Invalid volume: Volume status must be available or error or error_restoring "
                  "or error_extending or error_managing and must not be migrating, attached, "
                  "belong to a group, have snapshots, awaiting a transfer, or be disassociated "
                  "from snapshots after volume transfer.")


def cts(t: dt.datetime | None) -> str | None:
    """Cinder's timestamps: ISO 8601 with microseconds and no zone."""
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def over_limit(message: str) -> ApiError:
    return ApiError(413, message, headers={"Retry-After": "0"})


def _accepted(accept: str | None, offers: tuple[str, ...]) -> str | None:
    """WebOb's ``acceptable_offers(...)[0]``: the offer the Accept header ranks highest (the
    most specific matching range gives an offer its q; ties go to the earlier offer)."""
    if not accept:
        return offers[0]
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        kind, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((kind.lower(), q))
    best: tuple[float, str] | None = None
    for offer in offers:
        major = offer.split("/")[0]
        matches = [(3 if k == offer else 2 if k == f"{major}/*" else 1, q)
                   for k, q in ranges if k in (offer, f"{major}/*", "*/*")]
        if matches and (q := max(matches)[1]) > 0 and (best is None or q > best[0]):
            best = (q, offer)
    return best[1] if best else None


def webob_not_found(req: Request, project_id: str | None = None) -> Response:
    """What cinder-api answers for a path (or method) its router does not take: WebOb's own
    ``HTTPNotFound`` page, not a Cinder fault — HTML, JSON or plain text by the Accept header
    (the real cloud's, tests/realcloud/test_differential.py)."""
    offer = _accepted(req.header("accept"), ("text/html", "application/json"))
    if offer == "text/html":
        body = ("<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  "
                "<h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\n\n\n"
                " </body>\n</html>")
        ctype = "text/html; charset=UTF-8"
    elif offer == "application/json":
        body = json.dumps({"message": "The resource could not be found.<br /><br />\n\n\n",
                           "code": "404 Not Found", "title": "Not Found"})
        ctype = "application/json"
    else:
        body = "404 Not Found\n\nThe resource could not be found.\n\n   "
        ctype = "text/plain; charset=UTF-8"
    return Response(status=404, body=body.encode(), headers={"Content-Type": ctype})


def settle(region: RegionState, wall: float) -> None:
    """Advance what Cinder does in the background once its time has come: volumes created or
    extended, snapshots and backups created, restored or deleted (a backup's volume returns
    to the status it had, a restored volume becomes ``available``)."""
    for vol in region.volumes.values():
        if vol.status in ("creating", "extending") and vol.ready_at <= wall:
            vol.status = "available" if not vol.attachments else "in-use"
            vol.updated_at = now()
    for snap in list(region.snapshots.values()):
        if snap.ready_at > wall:
            continue
        if snap.status == "creating":
            snap.status, snap.updated_at = "available", now()
        elif snap.status == "deleting":
            del region.snapshots[snap.id]
    for backup in list(region.backups.values()):
        if backup.ready_at > wall:
            continue
        if backup.status == "creating":  # an import the backup service could not read fails
            backup.status = "error" if backup.fail_reason else "available"
            backup.updated_at = now()
            backup.object_count = max(1, backup.size)
            _volume_back(region, backup.volume_id, "backing-up")
        elif backup.status == "restoring":
            backup.status, backup.updated_at = "available", now()
            _volume_back(region, backup.restore_volume_id, "restoring-backup")
            backup.restore_volume_id = None
        elif backup.status == "deleting":
            del region.backups[backup.id]


def _volume_back(region: RegionState, volume_id: str | None, busy: str) -> None:
    vol = region.volumes.get(volume_id or "")
    if vol is not None and vol.status == busy:
        vol.status = vol.previous_status or "available"
        vol.previous_status = None
        vol.updated_at = now()


class CinderBase:
    """Lookups, validation and quota accounting shared by every Cinder handler."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        # region → type id → type record (the default type is always there)
        self.types: dict[str, dict[str, dict[str, Any]]] = {}
        # region → project id → volume type id (3.62 per-project default types)
        self.project_defaults: dict[str, dict[str, str]] = {}

    # --- helpers -------------------------------------------------------------------------------

    def _region(self, req: Request) -> RegionState:
        region = self.cloud.region(req.region)
        settle(region, time.time())
        return region

    def _types(self, req: Request) -> dict[str, dict[str, Any]]:
        types = self.types.get(req.region or "")
        if types is None:
            tid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"govcloud/{req.region}/voltype"))
            types = {tid: {"id": tid, "name": DEFAULT_TYPE, "description": "Default Volume Type",
                           "is_public": True, "extra_specs": {}, "qos_specs_id": None}}
            self.types[req.region or ""] = types
        return types

    def _type_by(self, req: Request, ref: str) -> dict[str, Any] | None:
        types = self._types(req)
        return types.get(ref) or next((t for t in types.values() if t["name"] == ref), None)

    @staticmethod
    def _project(req: Request) -> str:
        return req.auth.project_id or ""

    def _policy(self, req: Request, rule: str) -> None:
        if not req.auth.is_admin:
            raise forbidden(f"Policy doesn't allow {rule} to be performed.")

    def _get(self, req: Request, volume_id: str) -> Volume:
        vol = self._region(req).volumes.get(volume_id)
        if vol is None or not (req.auth.is_admin or vol.project_id == self._project(req)):
            raise not_found(f"Volume {volume_id} could not be found.")
        return vol

    @staticmethod
    def _type_of(region: RegionState, snap: Any) -> str | None:
        """A snapshot's volume type: its volume's (gone volumes leave it untyped)."""
        vol = region.volumes.get(snap.volume_id)
        return vol.volume_type if vol is not None else None

    def _body(self, req: Request, key: str) -> dict[str, Any]:
        try:
            doc = req.json()
        except ApiError:
            raise bad_request("Malformed request body") from None
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise bad_request(f"Missing required element '{key}' in request body.")
        return doc[key]

    @staticmethod
    def _invalid(field: str, value: Any, why: str) -> ApiError:
        return bad_request(f"Invalid input for field/attribute {field}. Value: {value}. {why}")

    def _size(self, value: Any, field: str = "size") -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or \
                (isinstance(value, str) and not value.strip().isdigit()):
            raise self._invalid(field, value, f"{json.dumps(value)} is not valid under any of "
                                              "the given schemas")
        size = int(value)
        if size < 1:
            raise self._invalid(field, value, f"{size} is less than the minimum of 1")
        if size > 2147483647:
            raise self._invalid(field, value, f"{size} is greater than the maximum of "
                                              "2147483647")
        return size

    def _metadata(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict):
            raise self._invalid("metadata", value, f"{value!r} is not of type 'object'")
        for k, v in value.items():
            if not isinstance(k, str) or not 1 <= len(k) <= 255:
                raise self._invalid("metadata", value, f"'{k}' is too long")
            if not isinstance(v, str) or len(v) > 255:
                raise self._invalid("metadata", value, f"{v!r} is not of type 'string'")
        return dict(value)

    # --- quota -----------------------------------------------------------------------------------

    def _usage(self, region: RegionState, project_id: str) -> dict[str, int]:
        """In use, as Cinder counts it: ``gigabytes`` is volumes' and snapshots' sizes
        (``no_snapshot_gb_quota`` false, the default)."""
        vols = [v for v in region.volumes.values() if v.project_id == project_id]
        snaps = [s for s in region.snapshots.values() if s.project_id == project_id]
        backups = [b for b in region.backups.values() if b.project_id == project_id]
        return {"volumes": len(vols),
                "gigabytes": sum(v.size for v in vols) + sum(s.size for s in snaps),
                "snapshots": len(snaps), "backups": len(backups),
                "backup_gigabytes": sum(b.size for b in backups), "groups": 0,
                "per_volume_gigabytes": 0}

    def _check_quota(self, region: RegionState, project_id: str, *, volumes: int,
                     gigabytes: int, size: int) -> None:
        quota = region.volume_quota(project_id)
        used = self._usage(region, project_id)
        per = quota.get("per_volume_gigabytes", UNLIMITED)
        if per != UNLIMITED and size > per:
            raise over_limit(f"VolumeSizeExceedsLimit: Requested volume size {size}G is larger "
                             f"than maximum allowed limit {per}G.")
        if volumes and quota["volumes"] != UNLIMITED and \
                used["volumes"] + volumes > quota["volumes"]:
            raise over_limit(f"VolumeLimitExceeded: Maximum number of volumes allowed "
                             f"({quota['volumes']}) exceeded for quota 'volumes'.")
        if quota["gigabytes"] != UNLIMITED and used["gigabytes"] + gigabytes > \
                quota["gigabytes"]:
            raise over_limit(f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                             f"exceeds allowed gigabytes quota. Requested {gigabytes}G, quota "
                             f"is {quota['gigabytes']}G and {used['gigabytes']}G has been "
                             "consumed.")


class CinderAdminMixin(CinderBase):
    # --- volume types ----------------------------------------------------------------------------

    @staticmethod
    def _type_json(t: dict[str, Any]) -> dict[str, Any]:
        return {"id": t["id"], "name": t["name"], "description": t["description"],
                "is_public": t["is_public"], "os-volume-type-access:is_public": t["is_public"],
                "extra_specs": dict(t["extra_specs"]), "qos_specs_id": t["qos_specs_id"]}

    def list_types(self, req: Request, project_id: str | None = None) -> Response:
        return json_response({"volume_types": [self._type_json(t)
                                               for t in self._types(req).values()]})

    def get_type(self, req: Request, type_id: str, project_id: str | None = None) -> Response:
        t = self._types(req).get(type_id)
        if t is None:
            raise not_found(f"Volume type {type_id} could not be found.")
        return json_response({"volume_type": self._type_json(t)})

    def project_default_type(self, req: Request, project: str) -> dict[str, Any]:
        tid = self.project_defaults.get(req.region or "", {}).get(project)
        t = self._types(req).get(tid or "") or self._type_by(req, DEFAULT_TYPE)
        assert t is not None
        return t

    def default_type(self, req: Request, project_id: str | None = None) -> Response:
        return json_response({"volume_type": self._type_json(
            self.project_default_type(req, self._project(req)))})

    # --- per-project default types (3.62) ----------------------------------------------------

    def _defaults(self, req: Request) -> dict[str, str]:
        if not req.mv_at_least(3, 62):
            raise not_found("The resource could not be found.")
        return self.project_defaults.setdefault(req.region or "", {})

    def list_default_types(self, req: Request, project_id: str | None = None) -> Response:
        defaults = self._defaults(req)
        self._policy(req, "volume_extension:default_get_all")
        return json_response({"default_types": [
            {"project_id": p, "volume_type_id": t} for p, t in defaults.items()]})

    def get_default_type(self, req: Request, target: str, project_id: str | None = None
                         ) -> Response:
        defaults = self._defaults(req)
        if not req.auth.is_admin and target != self._project(req):
            raise forbidden("Policy doesn't allow volume_extension:default_get to be "
                            "performed.")
        if target not in defaults:
            raise not_found(f"Default type for project {target} could not be found.")
        return json_response({"default_type": {"project_id": target,
                                                "volume_type_id": defaults[target]}})

    def set_default_type(self, req: Request, target: str, project_id: str | None = None
                         ) -> Response:
        defaults = self._defaults(req)
        self._policy(req, "volume_extension:default_set_or_update")
        body = self._body(req, "default_type")
        ref = body.get("volume_type")
        t = self._type_by(req, str(ref)) if ref else None
        if t is None:
            raise not_found(f"Volume type {ref} could not be found.")
        defaults[target] = t["id"]
        return json_response({"default_type": {"project_id": target,
                                                "volume_type_id": t["id"]}})

    def unset_default_type(self, req: Request, target: str, project_id: str | None = None
                           ) -> Response:
        defaults = self._defaults(req)
        self._policy(req, "volume_extension:default_unset")
        defaults.pop(target, None)
        return Response(status=204)

    def create_type(self, req: Request, project_id: str | None = None) -> Response:
        self._policy(req, "volume_extension:types_manage")
        body = self._body(req, "volume_type")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise self._invalid("name", name, "is not a valid volume type name")
        if self._type_by(req, name) is not None:
            raise ApiError(409, f"Volume Type {name} already exists.")
        specs = body.get("extra_specs") or {}
        if not isinstance(specs, dict):
            raise self._invalid("extra_specs", specs, "is not of type 'object'")
        public = body.get("os-volume-type-access:is_public", body.get("is_public", True))
        tid = str(uuidlib.uuid4())
        self._types(req)[tid] = {"id": tid, "name": name,
                                 "description": body.get("description"),
                                 "is_public": bool(public),
                                 "extra_specs": {str(k): str(v) for k, v in specs.items()},
                                 "qos_specs_id": None}
        return json_response({"volume_type": self._type_json(self._types(req)[tid])})

    def update_type(self, req: Request, type_id: str, project_id: str | None = None
                    ) -> Response:
        self._policy(req, "volume_extension:types_manage")
        t = self._types(req).get(type_id)
        if t is None:
            raise not_found(f"Volume type {type_id} could not be found.")
        body = self._body(req, "volume_type")
        if "name" in body and body["name"] != t["name"]:
            if t["name"] == DEFAULT_TYPE:
                raise bad_request("The volume type __DEFAULT__ cannot be renamed.")
            if self._type_by(req, str(body["name"])) is not None:
                raise ApiError(409, f"Volume Type {body['name']} already exists.")
            for v in self._region(req).volumes.values():
                if v.volume_type == t["name"]:
                    v.volume_type = str(body["name"])
            t["name"] = str(body["name"])
        if "description" in body:
            t["description"] = body["description"]
        if "is_public" in body:
            t["is_public"] = bool(body["is_public"])
        return json_response({"volume_type": self._type_json(t)})

    def delete_type(self, req: Request, type_id: str, project_id: str | None = None
                    ) -> Response:
        self._policy(req, "volume_extension:types_manage")
        t = self._types(req).get(type_id)
        if t is None:
            raise not_found(f"Volume type {type_id} could not be found.")
        if t["name"] == DEFAULT_TYPE:
            raise bad_request("Default volume type can not be deleted.")
        if any(v.volume_type == t["name"] for v in self._region(req).volumes.values()):
            raise bad_request("Target volume type is still in use.")
        if type_id in self.project_defaults.get(req.region or "", {}).values():
            raise bad_request(f"Volume Type {type_id} deletion is not allowed with volumes "
                              "present with the type.")
        del self._types(req)[type_id]
        return Response(status=202)

    # --- quota sets, limits ----------------------------------------------------------------------

    def _quota_doc(self, req: Request, target: str, values: dict[str, int],
                   usage: bool) -> dict[str, Any]:
        region = self._region(req)
        doc: dict[str, Any] = {}
        used = self._usage(region, target)
        types = [t["name"] for t in self._types(req).values()]
        full = dict(values)
        for name in types:
            for res in ("volumes", "gigabytes", "snapshots"):
                full.setdefault(f"{res}_{name}", UNLIMITED)
        for key, limit in full.items():
            if usage:
                in_use = used.get(key, 0)
                if "_" in key and key.split("_", 1)[1] in types:
                    res, name = key.split("_", 1)
                    in_use = sum(1 if res == "volumes" else v.size if res == "gigabytes" else 0
                                 for v in region.volumes.values()
                                 if v.project_id == target and v.volume_type == name)
                    in_use += sum(1 if res == "snapshots" else s.size if res == "gigabytes"
                                  else 0 for s in region.snapshots.values()
                                  if s.project_id == target and self._type_of(region, s)
                                  == name)
                doc[key] = {"limit": limit, "in_use": in_use, "reserved": 0}
            else:
                doc[key] = limit
        doc["id"] = target
        return doc

    def get_quota(self, req: Request, target: str, project_id: str | None = None) -> Response:
        if not req.auth.is_admin and target != self._project(req):
            raise forbidden("Policy doesn't allow volume_extension:quotas:show to be "
                            "performed.")
        usage = (req.arg("usage") or "").lower() in ("true", "1", "yes")
        return json_response({"quota_set": self._quota_doc(
            req, target, self._region(req).volume_quota(target), usage)})

    def quota_defaults(self, req: Request, target: str, project_id: str | None = None
                       ) -> Response:
        return json_response({"quota_set": self._quota_doc(
            req, target, dict(self._region(req).volume_quota_defaults), False)})

    def update_quota(self, req: Request, target: str, project_id: str | None = None
                     ) -> Response:
        self._policy(req, "volume_extension:quotas:update")
        body = self._body(req, "quota_set")
        region = self._region(req)
        known = set(region.volume_quota_defaults)
        new: dict[str, int] = {}
        for key, value in body.items():
            if key in ("tenant_id", "id"):
                continue
            if key not in known:
                raise bad_request(f"Bad key(s) in quota set: {key}")
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise bad_request(f"Invalid input received: Quota {key} value must be an "
                                  "integer.") from None
            if isinstance(value, bool) or number < UNLIMITED:
                raise bad_request(f"Invalid input received: Quota limit must be -1 or "
                                  f"greater than or equal to 0 for {key}.")
            used = self._usage(region, target).get(key, 0)
            if number != UNLIMITED and key != "per_volume_gigabytes" and number < used:
                raise bad_request(f"Invalid input received: Quota {key} limit must be greater "
                                  f"than or equal to already used and reserved {used}.")
            new[key] = number
        region.volume_quotas.setdefault(target, {}).update(new)
        doc = self._quota_doc(req, target, region.volume_quota(target), False)
        doc.pop("id", None)
        return json_response({"quota_set": doc})

    def delete_quota(self, req: Request, target: str, project_id: str | None = None
                     ) -> Response:
        self._policy(req, "volume_extension:quotas:delete")
        self._region(req).volume_quotas.pop(target, None)
        return Response(status=200)

    def limits(self, req: Request, project_id: str | None = None) -> Response:
        target = self._project(req)
        if (other := req.arg("project_id")) is not None and req.mv_at_least(3, 39):
            if not req.auth.is_admin and other != target:
                raise forbidden("Policy doesn't allow limits_extension:used_limits to be "
                                "performed.")
            target = other
        region = self._region(req)
        quota = region.volume_quota(target)
        used = self._usage(region, target)
        return json_response({"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": quota["volumes"], "maxTotalVolumeGigabytes": quota["gigabytes"],
            "maxTotalSnapshots": quota["snapshots"], "maxTotalBackups": quota["backups"],
            "maxTotalBackupGigabytes": quota["backup_gigabytes"],
            "totalVolumesUsed": used["volumes"], "totalGigabytesUsed": used["gigabytes"],
            "totalSnapshotsUsed": used["snapshots"], "totalBackupsUsed": used["backups"],
            "totalBackupGigabytesUsed": used["backup_gigabytes"]}}})

    # --- zones, services, extensions ----------------------------------

    def zones(self, req: Request, project_id: str | None = None) -> Response:
        return json_response({"availabilityZoneInfo": [
            {"zoneName": z, "zoneState": {"available": True}}
            for z in self._region(req).zones]})

    def services(self, req: Request, project_id: str | None = None) -> Response:
        self._policy(req, "volume_extension:services:index")
        region = self._region(req)
        host = f"{region.name.lower().replace('-', '')}-ctl-01"
        updated = cts(now().replace(microsecond=0))
        out = []
        for binary, svc_host in (("cinder-scheduler", host), ("cinder-volume", f"{host}@lvm")):
            svc: dict[str, Any] = {"binary": binary, "host": svc_host,
                                   "zone": region.zones[0], "status": "enabled",
                                   "state": "up", "updated_at": updated,
                                   "disabled_reason": None}
            if req.mv_at_least(3, 7):
                svc["cluster"] = None
            if binary == "cinder-volume":
                svc.update(replication_status="disabled", active_backend_id=None,
                           frozen=False)
                if req.mv_at_least(3, 49):
                    svc["backend_state"] = "up"
            out.append(svc)
        for key in ("binary", "host"):
            if (want := req.arg(key)) is not None:
                out = [s for s in out if s[key] == want]
        return json_response({"services": out})

    def extensions(self, req: Request, project_id: str | None = None) -> Response:
        names = (("AvailabilityZones", "os-availability-zone"),
                 ("Quotas", "os-quota-sets"), ("Services", "os-services"),
                 ("Types", "os-types-manage"), ("VolumeActions", "os-volume-actions"),
                 ("VolumeHostAttribute", "os-vol-host-attr"),
                 ("VolumeTenantAttribute", "os-vol-tenant-attr"),
                 ("UsedLimits", "os-used-limits"))
        return json_response({"extensions": [
            {"alias": alias, "name": name, "description": f"{name} support.",
             "updated": "2013-01-01T00:00:00+00:00", "links": []} for name, alias in names]})
