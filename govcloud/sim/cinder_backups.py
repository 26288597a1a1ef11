"""Cinder v3 volume backups (cinder/api/contrib/backups.py, cinder/backup/api.py): create from
a volume (``incremental``, ``force`` for an ``in-use`` volume, optionally from a snapshot; the
volume is ``backing-up`` meanwhile), list/detail, show, delete (``available`` or ``error``, and
no incremental children), restore into a new or a given volume (``restoring``, the volume
``restoring-backup``), export_record / import_record (admin), and the ``os-reset_status`` and
``os-force_delete`` admin actions. Quota: ``backups`` and ``backup_gigabytes``.

An exported record carries the whole backup (base64 of JSON, as Cinder's
``Backup.encode_record``), so importing it into another region's Cinder recreates the backup
with the same id there; the simulator's backups hold no data beyond that record (volumes carry
no guest data here).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import time
from typing import TYPE_CHECKING, Any

from govcloud.sim.cinder_admin import cts, over_limit
from govcloud.sim.cinder_snapshots import PAGE_CONTROL, CinderSnapshotsMixin, bool_strict, page
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    bad_request,
    json_response,
    not_found,
)
from govcloud.sim.model import Backup, Volume, now
from govcloud.sim.state import UNLIMITED, RegionState

BACKUP_SERVICE = "cinder.backup.drivers.swift.SwiftBackupDriver"
IMPORT_VOLUME_ID = "00000000-0000-0000-0000-000000000000"
BACKUP_FILTERS = {"name", "status", "volume_id"}
BACKUP_SORT_KEYS = ("id", "name", "display_name", "status", "size", "created_at",
                    "updated_at", "volume_id", "project_id", "data_timestamp")


def _when(text: Any) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(text)).replace(tzinfo=dt.UTC)
    except ValueError:
        return now()


class CinderBackupsMixin(CinderSnapshotsMixin):
    """The ``/backups`` resource."""

    if TYPE_CHECKING:  # CinderAdminMixin's, which CinderAPI combines with this
        def project_default_type(self, req: Request, project: str) -> dict[str, Any]: ...

    def backup_routes(self) -> list[tuple[str, str, Any]]:
        return [("GET", "/backups", self.list_backups),
                ("GET", "/backups/detail", self.list_backups_detail),
                ("POST", "/backups", self.create_backup),
                ("POST", "/backups/import_record", self.import_backup_record),
                ("GET", "/backups/{backup_id}", self.get_backup),
                ("DELETE", "/backups/{backup_id}", self.delete_backup),
                ("POST", "/backups/{backup_id}/restore", self.restore_backup),
                ("GET", "/backups/{backup_id}/export_record", self.export_backup_record),
                ("POST", "/backups/{backup_id}/action", self.backup_action)]

    # --- views -----------------------------------------------------------------------------

    @staticmethod
    def _backup_links(req: Request, b: Backup) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{req.base_url}/v3/{b.project_id}/backups/{b.id}"},
                {"rel": "bookmark", "href": f"{req.base_url}/{b.project_id}/backups/{b.id}"}]

    def _backup_summary(self, req: Request, b: Backup) -> dict[str, Any]:
        return {"id": b.id, "name": b.name, "links": self._backup_links(req, b)}

    def _backup_detail(self, req: Request, b: Backup) -> dict[str, Any]:
        region = self.cloud.region(req.region)
        doc: dict[str, Any] = {
            "id": b.id, "status": b.status, "size": b.size, "object_count": b.object_count,
            "availability_zone": b.availability_zone, "container": b.container,
            "created_at": cts(b.created_at), "updated_at": cts(b.updated_at),
            "name": b.name, "description": b.description, "fail_reason": b.fail_reason,
            "volume_id": b.volume_id, "links": self._backup_links(req, b),
            "is_incremental": b.incremental,
            "has_dependent_backups": any(x.parent_id == b.id for x in region.backups.values()),
            "snapshot_id": b.snapshot_id, "data_timestamp": cts(b.data_timestamp)}
        if req.mv_at_least(3, 43):
            doc["metadata"] = dict(b.metadata)
        if req.auth.is_admin and req.mv_at_least(3, 18):
            doc["os-backup-project-attr:project_id"] = b.project_id
        if req.auth.is_admin and req.mv_at_least(3, 56):
            doc["user_id"] = b.user_id
        return doc

    # --- lookups -----------------------------------------------------------------------------

    def _backup(self, req: Request, backup_id: str) -> Backup:
        b = self._region(req).backups.get(backup_id)
        if b is None or not (req.auth.is_admin or b.project_id == self._project(req)):
            raise not_found(f"Backup {backup_id} could not be found.")
        return b

    def _backups_listed(self, req: Request) -> list[Backup]:
        rows = list(self._region(req).backups.values())
        all_tenants = (req.arg("all_tenants") or "").lower() in ("1", "true", "yes", "on")
        if req.auth.is_admin and all_tenants:
            if (pid := req.arg("project_id")) is not None:
                rows = [b for b in rows if b.project_id == pid]
        else:
            rows = [b for b in rows if b.project_id == self._project(req)]
        unknown = sorted(k for k in req.query if k not in BACKUP_FILTERS | PAGE_CONTROL)
        if unknown and not req.auth.is_admin:
            raise bad_request(f"Invalid filters {', '.join(unknown)} are found in query "
                              "options.")
        for key in ("status", "volume_id", "name"):
            if (want := req.arg(key)) is not None:
                rows = [b for b in rows if getattr(b, key) == want]
        return rows

    def _check_backup_quota(self, region: RegionState, project_id: str, size: int) -> None:
        quota = region.volume_quota(project_id)
        used = self._usage(region, project_id)
        if quota["backup_gigabytes"] != UNLIMITED and \
                used["backup_gigabytes"] + size > quota["backup_gigabytes"]:
            raise over_limit(f"VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds "
                             f"allowed Backup gigabytes quota. Requested {size}G, quota is "
                             f"{quota['backup_gigabytes']}G and {used['backup_gigabytes']}G "
                             "has been consumed.")
        if quota["backups"] != UNLIMITED and used["backups"] + 1 > quota["backups"]:
            raise over_limit(f"BackupLimitExceeded: Maximum number of backups allowed "
                             f"({quota['backups']}) exceeded")

    # --- list, show, create, delete ----------------------------------------------------------

    def list_backups(self, req: Request, project_id: str | None = None) -> Response:
        return page(req, self._backups_listed(req), collection="backups", path="backups",
                    project=self._project(req), render=self._backup_summary,
                    sort_keys=BACKUP_SORT_KEYS)

    def list_backups_detail(self, req: Request, project_id: str | None = None) -> Response:
        return page(req, self._backups_listed(req), collection="backups",
                    path="backups/detail", project=self._project(req),
                    render=self._backup_detail, sort_keys=BACKUP_SORT_KEYS)

    def get_backup(self, req: Request, backup_id: str, project_id: str | None = None
                   ) -> Response:
        return json_response({"backup": self._backup_detail(req, self._backup(req, backup_id))})

    def _backup_body(self, req: Request) -> dict[str, Any]:
        body = self._body(req, "backup")
        allowed = {"volume_id", "container", "name", "description", "incremental", "force",
                   "snapshot_id"}
        allowed |= {"metadata"} if req.mv_at_least(3, 43) else set()
        allowed |= {"availability_zone"} if req.mv_at_least(3, 51) else set()
        extra = sorted(set(body) - allowed)
        if extra:
            raise self._invalid("backup", body, "Additional properties are not allowed "
                                                f"('{extra[0]}' was unexpected)")
        if not isinstance(body.get("volume_id"), str):
            raise self._invalid("backup", body, "'volume_id' is a required property")
        for key in ("name", "description", "container"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise self._invalid(key, value, f"{value!r} is not valid under any of the "
                                                "given schemas")
        return body

    def create_backup(self, req: Request, project_id: str | None = None) -> Response:
        body = self._backup_body(req)
        incremental = bool_strict(body.get("incremental", False), "incremental")
        force = bool_strict(body.get("force", False), "force")
        metadata = self._metadata(body.get("metadata") or {})
        vol = self._get(req, body["volume_id"])
        region = self._region(req)
        snap = None
        if body.get("snapshot_id"):
            snap = self._snapshot(req, str(body["snapshot_id"]))
            if snap.volume_id != vol.id:
                raise bad_request(f"Invalid volume: Volume {vol.id} does not match with "
                                  f"snapshot.volume_id {snap.volume_id}.")
            if snap.status != "available":
                raise bad_request("Invalid snapshot: Snapshot to be backed up must be "
                                  f'available, but the current status is "{snap.status}".')
        elif vol.status not in ("available", "in-use"):
            raise bad_request("Invalid volume: Volume to be backed up must be available or "
                              f'in-use, but the current status is "{vol.status}".')
        elif vol.status == "in-use" and not force:
            raise bad_request("Invalid volume: Backing up an in-use volume must use the force "
                              "flag.")
        owner = self._project(req)
        self._check_backup_quota(region, owner, vol.size)
        parent = self._parent(region, vol, owner) if incremental else None
        ts = now()
        b = Backup(id=region.ids.uuid(), volume_id=vol.id, project_id=owner,
                   user_id=req.auth.user_id, size=vol.size, name=body.get("name"),
                   description=body.get("description"),
                   availability_zone=body.get("availability_zone") or vol.availability_zone,
                   container=body.get("container") or "volumebackups",
                   incremental=incremental, parent_id=parent.id if parent else None,
                   snapshot_id=snap.id if snap else None, metadata=metadata,
                   created_at=ts, updated_at=ts,
                   data_timestamp=snap.created_at if snap else ts,
                   ready_at=time.time() + max(0.1, region.build_delay),
                   source={"bootable": vol.bootable, "image_id": vol.image_id,
                           "volume_type": vol.volume_type})
        if snap is None:
            vol.previous_status, vol.status = vol.status, "backing-up"
            vol.updated_at = ts
        region.backups[b.id] = b
        return json_response({"backup": self._backup_summary(req, b)}, 202)

    @staticmethod
    def _parent(region: RegionState, vol: Volume, owner: str) -> Backup:
        mine = [b for b in region.backups.values()
                if b.volume_id == vol.id and b.project_id == owner]
        ready = [b for b in mine if b.status == "available"]
        if not ready:
            raise bad_request("Invalid backup: No backups available to do an incremental "
                              "backup.")
        return max(ready, key=lambda b: (b.data_timestamp, b.created_at))

    def delete_backup(self, req: Request, backup_id: str, project_id: str | None = None
                      ) -> Response:
        b = self._backup(req, backup_id)
        region = self._region(req)
        if b.status not in ("available", "error"):
            raise bad_request("Invalid backup: Backup status must be available or error")
        if any(x.parent_id == b.id for x in region.backups.values()):
            raise bad_request("Invalid backup: Incremental backups exist for this backup.")
        self._start_backup_delete(region, b)
        return Response(status=202)

    @staticmethod
    def _start_backup_delete(region: RegionState, b: Backup) -> None:
        b.status, b.updated_at = "deleting", now()
        b.ready_at = time.time() + max(0.1, region.build_delay / 2)

    # --- restore -----------------------------------------------------------------------------

    def restore_backup(self, req: Request, backup_id: str, project_id: str | None = None
                       ) -> Response:
        try:
            doc = req.json()
        except ApiError:
            raise bad_request("Malformed request body") from None
        restore = doc.get("restore") if isinstance(doc, dict) else None
        if not isinstance(restore, dict) or set(restore) - {"volume_id", "name"}:
            raise bad_request(f"Invalid input for field/attribute restore. Value: {restore}.")
        b = self._backup(req, backup_id)
        region = self._region(req)
        if b.status != "available":
            raise bad_request("Invalid backup: Backup status must be available")
        if restore.get("volume_id") is None:
            vol = self._restore_volume(req, region, b, restore.get("name"))
        else:
            vol = self._get(req, str(restore["volume_id"]))
        if vol.status != "available":
            raise bad_request("Invalid volume: Volume to be restored to must be available")
        if b.size > vol.size:
            raise bad_request(f"Invalid volume: volume size {vol.size} is too small to restore "
                              f"backup of size {b.size}.")
        b.status, b.restore_volume_id, b.updated_at = "restoring", vol.id, now()
        b.ready_at = time.time() + max(0.1, region.build_delay)
        vol.previous_status, vol.status = None, "restoring-backup"
        vol.bootable = bool(b.source.get("bootable"))
        vol.image_id = b.source.get("image_id")
        return json_response({"restore": {"backup_id": b.id, "volume_id": vol.id,
                                          "volume_name": vol.name}}, 202)

    def _restore_volume(self, req: Request, region: RegionState, b: Backup,
                        name: Any) -> Volume:
        """Cinder's restore without a volume: a new one of the backup's size, named
        ``restore_backup_<id>`` unless a name is given."""
        owner = self._project(req)
        self._check_quota(region, owner, volumes=1, gigabytes=b.size, size=b.size)
        vtype = self._type_by(req, str(b.source.get("volume_type") or "")) or \
            self.project_default_type(req, owner)
        vol = Volume(id=region.ids.uuid(), name=str(name) if name else f"restore_backup_{b.id}",
                     project_id=owner, user_id=req.auth.user_id, size=b.size,
                     status="available", volume_type=vtype["name"],
                     availability_zone=region.zones[0],
                     description="auto-created_from_restore_from_backup")
        region.volumes[vol.id] = vol
        return vol

    # --- export / import ---------------------------------------------------------------------

    def export_backup_record(self, req: Request, backup_id: str,
                             project_id: str | None = None) -> Response:
        self._policy(req, "backup:export-import")
        b = self._backup(req, backup_id)
        if b.status != "available":
            raise bad_request(f"Invalid backup: Backup status must be available and not "
                              f"{b.status}.")
        record = {"id": b.id, "size": b.size, "display_name": b.name,
                  "display_description": b.description, "volume_id": b.volume_id,
                  "container": b.container, "availability_zone": b.availability_zone,
                  "parent_id": b.parent_id, "snapshot_id": b.snapshot_id,
                  "object_count": b.object_count, "metadata": b.metadata,
                  "created_at": cts(b.created_at), "data_timestamp": cts(b.data_timestamp),
                  "service": BACKUP_SERVICE, "service_metadata": json.dumps(b.source)}
        url = base64.b64encode(json.dumps(record).encode()).decode()
        return json_response({"backup-record": {"backup_service": BACKUP_SERVICE,
                                                "backup_url": url}})

    def import_backup_record(self, req: Request, project_id: str | None = None) -> Response:
        self._policy(req, "backup:export-import")
        body = self._body(req, "backup-record")
        service, url = body.get("backup_service"), body.get("backup_url")
        if not isinstance(service, str) or not isinstance(url, str):
            raise self._invalid("backup-record", body,
                                "'backup_service' and 'backup_url' are required properties")
        try:
            record = json.loads(base64.b64decode(url.encode(), validate=True))
        except (binascii.Error, ValueError):
            raise bad_request("Invalid input received: Can't parse backup record.") from None
        if not isinstance(record, dict) or "id" not in record:
            raise bad_request("Invalid input received: Provided backup record is missing an "
                              "id")
        if "size" not in record:
            raise bad_request("Invalid input received: Provided backup record is missing size "
                              "attribute")
        region = self._region(req)
        if str(record["id"]) in region.backups:
            raise bad_request("Invalid backup: Backup already exists in database.")
        owner = self._project(req)
        size = int(record["size"])
        self._check_backup_quota(region, owner, size)
        b = self._imported(req, region, record, size, owner)
        if service != BACKUP_SERVICE:  # the backup manager cannot read it: error, later
            b.fail_reason = f"Import record failed, no backup service {service}."
        region.backups[b.id] = b
        return json_response({"backup": self._backup_summary(req, b)}, 201)

    @staticmethod
    def _imported(req: Request, region: RegionState, record: dict[str, Any], size: int,
                  owner: str) -> Backup:
        try:
            source = json.loads(record.get("service_metadata") or "{}")
        except ValueError:
            source = {}
        metadata = record.get("metadata")
        return Backup(id=str(record["id"]), volume_id=str(record.get("volume_id")
                                                          or IMPORT_VOLUME_ID),
                      project_id=owner, user_id=req.auth.user_id, size=size,
                      name=record.get("display_name"),
                      description=record.get("display_description"),
                      availability_zone=region.zones[0],
                      container=record.get("container"),
                      incremental=bool(record.get("parent_id")),
                      parent_id=record.get("parent_id"),
                      snapshot_id=record.get("snapshot_id"),
                      metadata=dict(metadata) if isinstance(metadata, dict) else {},
                      object_count=int(record.get("object_count") or 0),
                      data_timestamp=_when(record.get("data_timestamp")),
                      ready_at=time.time() + max(0.1, region.build_delay),
                      source=source if isinstance(source, dict) else {})

    # --- admin actions -----------------------------------------------------------------------

    def backup_action(self, req: Request, backup_id: str, project_id: str | None = None
                      ) -> Response:
        b = self._backup(req, backup_id)
        try:
            doc = req.json()
        except ApiError:
            raise bad_request("Malformed request body") from None
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("There is no such action: None")
        name, arg = next(iter(doc.items()))
        if name == "os-reset_status":
            self._policy(req, "backup:backup-reset_status")
            status = arg.get("status") if isinstance(arg, dict) else None
            if status not in ("available", "error"):
                raise bad_request(f"Invalid input for field/attribute status. Value: {status}.")
            b.status, b.updated_at = status, now()
            return Response(status=202)
        if name == "os-force_delete":
            self._policy(req, "backup:force_delete")
            self._start_backup_delete(self._region(req), b)
            return Response(status=202)
        raise bad_request(f"There is no such action: {name}")
