"""Cinder v3 (3.0–3.70): volumes (create with quota checks, ``creating`` → ``available``,
list/detail with paging, sorting, filters and ``all_tenants``, update, delete, actions,
metadata, summary; created empty, from an image, a volume or a snapshot), volume types, quota
sets, limits, availability zones, services, snapshots (cinder_snapshots.py) and backups
(cinder_backups.py).

Routes exist both as ``/v3/{project_id}/...`` (the catalog form) and ``/v3/...``. Quota usage
is computed from the region's volumes, so Cinder's quotas and limits always agree with what
the volume list shows; over-quota creates answer 413 with Cinder's ``overLimit`` body.
"""


from __future__ import annotations

import json
import time
import uuid as uuidlib
from typing import Any
from urllib.parse import urlencode

from govcloud.sim.cinder_admin import (
    INVALID_VOLUME,
    LIST_CONTROL,
    MAX_LIMIT,
    VOLUME_FILTERS,
    CinderAdminMixin,
    cts,
    webob_not_found,
)
from govcloud.sim.cinder_backups import CinderBackupsMixin
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    not_found,
)
from govcloud.sim.model import Snapshot, Volume, now


class CinderAPI(CinderBackupsMixin, CinderAdminMixin):
    """Cinder v3 for every region of the cloud."""

    def register(self, router: Router) -> None:
        add = router.add
        add("volume", "GET", "/", self.versions, auth=False)
        add("volume", "GET", "/v3", self.versions, auth=False)
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/volumes", self.list_volumes),
            ("GET", "/volumes/detail", self.list_volumes_detail),
            ("GET", "/volumes/summary", self.summary),
            ("POST", "/volumes", self.create_volume),
            ("GET", "/volumes/{volume_id}", self.get_volume),
            ("PUT", "/volumes/{volume_id}", self.update_volume),
            ("DELETE", "/volumes/{volume_id}", self.delete_volume),
            ("POST", "/volumes/{volume_id}/action", self.action),
            ("GET", "/volumes/{volume_id}/metadata", self.get_metadata),
            ("POST", "/volumes/{volume_id}/metadata", self.merge_metadata),
            ("PUT", "/volumes/{volume_id}/metadata", self.replace_metadata),
            ("GET", "/volumes/{volume_id}/metadata/{key}", self.get_meta_key),
            ("PUT", "/volumes/{volume_id}/metadata/{key}", self.put_meta_key),
            ("DELETE", "/volumes/{volume_id}/metadata/{key}", self.delete_meta_key),
            ("GET", "/types", self.list_types),
            ("POST", "/types", self.create_type),
            ("GET", "/types/default", self.default_type),
            ("GET", "/default-types", self.list_default_types),
            ("GET", "/default-types/{target}", self.get_default_type),
            ("PUT", "/default-types/{target}", self.set_default_type),
            ("DELETE", "/default-types/{target}", self.unset_default_type),
            ("GET", "/types/{type_id}", self.get_type),
            ("PUT", "/types/{type_id}", self.update_type),
            ("DELETE", "/types/{type_id}", self.delete_type),
            ("GET", "/os-quota-sets/{target}", self.get_quota),
            ("PUT", "/os-quota-sets/{target}", self.update_quota),
            ("DELETE", "/os-quota-sets/{target}", self.delete_quota),
            ("GET", "/os-quota-sets/{target}/defaults", self.quota_defaults),
            ("GET", "/limits", self.limits),
            ("GET", "/os-availability-zone", self.zones),
            ("GET", "/os-services", self.services),
            ("GET", "/extensions", self.extensions),
            *self.snapshot_routes(),
            *self.backup_routes(),
        ]
        for method, path, handler in routes:
            add("volume", method, "/v3" + path, handler)
            add("volume", method, "/v3/{project_id}" + path, handler)
        # anything else: WebOb's 404 page, after the token check under /v3 (keystonemiddleware
        # is in the v3 pipeline) and without one elsewhere (paste's urlmap)
        router.fallback("volume", "/v3", webob_not_found)
        router.fallback("volume", "/", webob_not_found, auth=False)

    # --- discovery -----------------------------------------------------------------------------

    def versions(self, req: Request, project_id: str | None = None) -> Response:
        doc = {"id": "v3.0", "status": "CURRENT", "version": "3.70", "min_version": "3.0",
               "updated": "2023-08-31T00:00:00Z",
               "links": [{"rel": "describedby", "type": "text/html",
                          "href": "https://docs.openstack.org/"},
                         {"rel": "self", "href": f"{req.base_url}/v3/"}],
               "media-types": [{"base": "application/json",
                                "type": "application/vnd.openstack.volume+json;version=3"}]}
        return json_response({"versions": [doc]}, 300 if req.path == "/" else 200)

    # --- volume documents ----------------------------------------------------------------------

    def _links(self, req: Request, vol: Volume) -> list[dict[str, str]]:
        root = req.base_url
        pid = vol.project_id
        return [{"rel": "self", "href": f"{root}/v3/{pid}/volumes/{vol.id}"},
                {"rel": "bookmark", "href": f"{root}/{pid}/volumes/{vol.id}"}]

    def _volume_json(self, req: Request, vol: Volume) -> dict[str, Any]:
        """Cinder's view builder (cinder/api/v3/views/volumes.py): what create and update
        answer; show and detail add the extensions' fields (``_shown``)."""
        vtype = self._type_by(req, vol.volume_type)
        doc: dict[str, Any] = {
            "id": vol.id, "name": vol.name, "status": vol.status, "size": vol.size,
            "availability_zone": vol.availability_zone, "created_at": cts(vol.created_at),
            "updated_at": cts(vol.updated_at), "description": vol.description,
            "volume_type": vol.volume_type, "snapshot_id": vol.snapshot_id,
            "source_volid": vol.source_volid,
            "metadata": {k: v for k, v in vol.metadata.items() if not k.startswith("_")},
            "links": self._links(req, vol), "user_id": vol.user_id,
            "bootable": "true" if vol.bootable else "false", "encrypted": False,
            "replication_status": None, "consistencygroup_id": None, "multiattach": False,
            "attachments": [dict(a) for a in vol.attachments],
        }
        if req.auth.is_admin:
            doc["migration_status"] = None
            if req.mv_at_least(3, 21):
                doc["provider_id"] = None
            if req.mv_at_least(3, 61):
                doc["cluster_name"] = None
        if req.mv_at_least(3, 13):
            doc["group_id"] = None
        if req.mv_at_least(3, 48):
            doc["shared_targets"] = False
            doc["service_uuid"] = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                                    f"govcloud/{req.region}/cinder-volume"))
        if req.mv_at_least(3, 63):
            doc["volume_type_id"] = vtype["id"] if vtype else None
        if req.mv_at_least(3, 65):
            doc["consumes_quota"] = True
        return doc

    def _shown(self, req: Request, vol: Volume) -> dict[str, Any]:
        """A volume as show and detail answer: the view plus what Cinder's controller
        extensions add to those two actions only (cinder/api/contrib/volume_*.py)."""
        doc = self._volume_json(req, vol)
        if req.auth.is_admin or vol.project_id == self._project(req):
            doc["os-vol-tenant-attr:tenant_id"] = vol.project_id
        if req.auth.is_admin:
            host = f"{req.region.lower().replace('-', '') if req.region else 'sim'}-ctl-01"
            doc["os-vol-host-attr:host"] = f"{host}@lvm#lvm"
            doc["os-vol-mig-status-attr:migstat"] = None
            doc["os-vol-mig-status-attr:name_id"] = None
        if vol.image_id:
            image = self.cloud.region(req.region).images.get(vol.image_id)
            doc["volume_image_metadata"] = {
                "image_id": vol.image_id, "image_name": image.name if image else "",
                "checksum": image.checksum if image else "",
                "container_format": image.container_format if image else "bare",
                "disk_format": image.disk_format if image else "qcow2",
                "min_disk": str(image.min_disk if image else 0),
                "min_ram": str(image.min_ram if image else 0),
                "size": str(image.size if image else 0)}
        return doc

    # --- listing ---------------------------------------------------------------------------------

    def _visible(self, req: Request) -> list[Volume]:
        region = self._region(req)
        vols = list(region.volumes.values())
        all_tenants = (req.arg("all_tenants") or "").lower() in ("1", "true", "yes", "on")
        if req.auth.is_admin and all_tenants:
            if (pid := req.arg("project_id")) is not None:
                vols = [v for v in vols if v.project_id == pid]
        else:
            vols = [v for v in vols if v.project_id == self._project(req)]
        return vols

    def _filtered(self, req: Request) -> list[Volume]:
        vols = self._visible(req)
        unknown = sorted(k for k in req.query if k not in VOLUME_FILTERS | LIST_CONTROL)
        if unknown and not req.auth.is_admin:
            raise bad_request(f"Invalid filters {', '.join(unknown)} are found in query "
                              "options.")
        for key in req.query:
            value = req.arg(key)
            if key in LIST_CONTROL or value is None:
                continue
            if key == "metadata":
                try:
                    wanted = json.loads(value.replace("'", '"'))
                except ValueError:
                    raise bad_request(f"Invalid metadata filter: {value}") from None
                if not isinstance(wanted, dict):
                    raise bad_request(f"Invalid metadata filter: {value}")
                vols = [v for v in vols if all(v.metadata.get(k) == str(x)
                                               for k, x in wanted.items())]
            elif key == "bootable":
                want = value.lower() in ("1", "true", "yes", "on")
                vols = [v for v in vols if v.bootable == want]
            elif key.endswith("~"):
                attr = key[:-1]
                vols = [v for v in vols if value in (getattr(v, attr, "") or "")]
            elif key in ("name", "status", "availability_zone"):
                vols = [v for v in vols if getattr(v, key) == value]
        return vols

    def _sorted(self, req: Request, vols: list[Volume]) -> list[Volume]:
        keys: list[tuple[str, str]] = []
        if (sort := req.arg("sort")) is not None:
            if req.arg("sort_key") or req.arg("sort_dir"):
                raise bad_request("The 'sort_key' and 'sort_dir' parameters are deprecated "
                                  "and cannot be used with the 'sort' parameter.")
            for item in sort.split(","):
                key, _, direction = item.strip().partition(":")
                keys.append((key, direction or "desc"))
        elif (sort_key := req.arg("sort_key")) is not None:
            keys.append((sort_key, req.arg("sort_dir", "desc") or "desc"))
        else:
            keys = [("created_at", req.arg("sort_dir", "desc") or "desc")]
        for key, direction in keys:
            if direction not in ("asc", "desc"):
                raise bad_request(f"Invalid sort direction: {direction}")
            if key not in ("id", "name", "status", "size", "created_at", "updated_at",
                           "availability_zone", "volume_type", "bootable", "project_id",
                           "user_id", "display_name"):
                raise bad_request(f"Invalid input received: Invalid sort key {key}")
        if "id" not in [k for k, _ in keys]:
            keys.append(("id", keys[-1][1]))
        for key, direction in reversed(keys):
            attr = "name" if key == "display_name" else key

            def value(v: Volume, a: str = attr) -> Any:
                x = getattr(v, a)
                return (x is not None, x if x is not None else "")
            vols = sorted(vols, key=value, reverse=direction == "desc")
        return vols

    def _page(self, req: Request, kind: str, render: Any) -> Response:
        vols = self._sorted(req, self._filtered(req))
        total = len(vols)
        marker = req.arg("marker")
        if marker is not None:
            ids = [v.id for v in vols]
            if marker not in ids:
                raise not_found(f"Marker {marker} could not be found.")
            vols = vols[ids.index(marker) + 1:]
        offset = req.int_arg("offset", 0) or 0
        vols = vols[offset:]
        limit = req.int_arg("limit")
        cap = min(limit, MAX_LIMIT) if limit is not None else MAX_LIMIT
        page = vols[:cap]
        body: dict[str, Any] = {"volumes": [render(req, v) for v in page]}
        if page and len(page) == cap and len(vols) > cap:
            params = [(k, v) for k, vs in req.query.items() if k != "marker" for v in vs]
            params.append(("marker", page[-1].id))
            href = f"{req.base_url}/v3/{self._project(req)}/{kind}?" + urlencode(params)
            body["volumes_links"] = [{"rel": "next", "href": href}]
        if req.mv_at_least(3, 45) and (req.arg("with_count") or "").lower() in ("1", "true"):
            body["count"] = total
        return json_response(body)

    def list_volumes(self, req: Request, project_id: str | None = None) -> Response:
        return self._page(req, "volumes", lambda r, v: {"id": v.id, "name": v.name,
                                                        "links": self._links(r, v)})

    def list_volumes_detail(self, req: Request, project_id: str | None = None) -> Response:
        return self._page(req, "volumes/detail", self._shown)

    def summary(self, req: Request, project_id: str | None = None) -> Response:
        if not req.mv_at_least(3, 12):
            raise not_found("The resource could not be found.")
        vols = self._filtered(req)
        doc: dict[str, Any] = {"total_size": sum(v.size for v in vols),
                               "total_count": len(vols)}
        if req.mv_at_least(3, 36):
            meta: dict[str, list[str]] = {}
            for v in vols:
                for k, x in v.metadata.items():
                    if not k.startswith("_") and x not in meta.setdefault(k, []):
                        meta[k].append(x)
            doc["metadata"] = meta
        return json_response({"volume-summary": doc})

    def get_volume(self, req: Request, volume_id: str, project_id: str | None = None
                   ) -> Response:
        return json_response({"volume": self._shown(req, self._get(req, volume_id))})

    # --- create / update / delete ----------------------------------------------------------------

    def create_volume(self, req: Request, project_id: str | None = None) -> Response:
        body = self._body(req, "volume")
        region = self._region(req)
        if "size" not in body and not body.get("source_volid") and \
                not body.get("snapshot_id"):
            raise bad_request("Invalid input for field/attribute volume. Value: "
                              f"{body}. 'size' is a required property")
        source = None
        if body.get("source_volid"):
            source = self._get(req, str(body["source_volid"]))
        snap = self._source_snapshot(req, body.get("snapshot_id"))
        if snap is not None:
            source = region.volumes.get(snap.volume_id)
        size = self._size(body["size"]) if body.get("size") is not None else \
            (snap.size if snap else source.size if source else 0)
        if snap is not None and size < snap.size:
            raise bad_request(f"Invalid input received: Volume size '{size}'GB cannot be "
                              f"smaller than the snapshot size {snap.size}GB. They must be "
                              ">= original snapshot size.")
        if snap is None and source is not None and size < source.size:
            raise bad_request(f"Invalid input received: Volume size '{size}'GB cannot be "
                              f"smaller than original volume size {source.size}GB. They must "
                              "be >= original volume size.")
        for key in ("name", "description"):
            value = body.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise self._invalid(key, value, f"{value!r} is not valid under any of the "
                                                "given schemas")
        vtype_ref = body.get("volume_type") or \
            self.project_default_type(req, self._project(req))["name"]
        vtype = self._type_by(req, str(vtype_ref))
        if vtype is None:
            raise not_found(f"Volume type with name {vtype_ref} could not be found.")
        zone = body.get("availability_zone") or region.zones[0]
        if zone not in region.zones:
            raise bad_request(f"Invalid input received: Availability zone '{zone}' is invalid.")
        metadata = self._metadata(body.get("metadata") or {})
        image = None
        image_ref = body.get("imageRef") or body.get("image_id")
        if image_ref:
            image = region.images.get(str(image_ref)) or next(
                (i for i in region.images.values() if i.name == image_ref), None)
            if image is None or image.status != "active":
                raise bad_request("Invalid image identifier or unable to access requested "
                                  "image.")
            if image.min_disk and image.min_disk > size:
                raise bad_request(f"Invalid input received: Volume size {size}GB cannot be "
                                  f"smaller than the image minDisk size {image.min_disk}GB.")
            if (image.size or 0) > size * 1024 ** 3:
                raise bad_request(f"Invalid input received: Size of specified image "
                                  f"{-(-(image.size or 0) // 1024 ** 3)}GB is larger than "
                                  f"volume size {size}GB.")
        owner = self._project(req)
        self._check_quota(region, owner, volumes=1, gigabytes=size, size=size)
        ts = now()
        vol = Volume(id=str(uuidlib.uuid4()), name=body.get("name"), project_id=owner,
                     user_id=req.auth.user_id, size=size, status="creating",
                     volume_type=vtype["name"], availability_zone=zone,
                     description=body.get("description"),
                     bootable=bool(image) or bool(source and source.bootable),
                     image_id=image.id if image else (source.image_id if source else None),
                     metadata=metadata, created_at=ts, updated_at=ts,
                     ready_at=time.time() + max(0.1, region.build_delay),
                     snapshot_id=snap.id if snap else None,
                     source_volid=source.id if source and not snap else None)
        region.volumes[vol.id] = vol
        return json_response({"volume": self._volume_json(req, vol)}, 202)

    def _source_snapshot(self, req: Request, ref: Any) -> Snapshot | None:
        """The snapshot a volume is created from: it must be ``available``."""
        if not ref:
            return None
        snap = self._snapshot(req, str(ref))
        if snap.status != "available":
            raise bad_request("Invalid snapshot: Originating snapshot status must be one of "
                              "'available' values")
        return snap

    def update_volume(self, req: Request, volume_id: str, project_id: str | None = None
                      ) -> Response:
        vol = self._get(req, volume_id)
        body = self._body(req, "volume")
        allowed = {"name", "description", "metadata", "display_name", "display_description"}
        extra = sorted(set(body) - allowed)
        if extra:
            raise bad_request("Invalid input for field/attribute volume. Value: "
                              f"{body}. Additional properties are not allowed "
                              f"('{extra[0]}' was unexpected)")
        if not body:
            raise bad_request("Invalid input for field/attribute volume. Value: {}. {} does "
                              "not have enough properties")
        for key, attr in (("name", "name"), ("display_name", "name"),
                          ("description", "description"),
                          ("display_description", "description")):
            if key in body:
                value = body[key]
                if value is not None and (not isinstance(value, str) or len(value) > 255):
                    raise self._invalid(key, value, f"{value!r} is not valid under any of the "
                                                    "given schemas")
                setattr(vol, attr, value)
        if "metadata" in body:
            vol.metadata = self._metadata(body["metadata"])
        vol.updated_at = now()
        return json_response({"volume": self._volume_json(req, vol)})

    def delete_volume(self, req: Request, volume_id: str, project_id: str | None = None
                      ) -> Response:
        vol = self._get(req, volume_id)
        region = self._region(req)
        cascade = (req.arg("cascade") or "").lower() in ("1", "true", "yes", "on")
        snaps = [s for s in region.snapshots.values() if s.volume_id == vol.id]
        busy = [s for s in snaps if s.status not in ("available", "error", "deleting")]
        if vol.attachments or vol.status not in ("available", "error", "error_restoring",
                                                 "error_extending", "error_managing") \
                or (snaps and not cascade) or busy:
            raise bad_request(INVALID_VOLUME)
        for snap in snaps:  # cascade: Cinder deletes the snapshots with the volume
            region.snapshots.pop(snap.id, None)
        del region.volumes[vol.id]
        return Response(status=202)

    # --- actions -----------------------------------------------------------------------------

    def action(self, req: Request, volume_id: str, project_id: str | None = None) -> Response:
        vol = self._get(req, volume_id)
        try:
            doc = req.json()
        except ApiError:
            raise bad_request("Malformed request body") from None
        if not isinstance(doc, dict) or len(doc) != 1:
            raise bad_request("There is no such action: None")
        name, arg = next(iter(doc.items()))
        region = self._region(req)
        if name == "os-extend":
            if not isinstance(arg, dict) or "new_size" not in arg:
                raise self._invalid("os-extend", arg, "'new_size' is a required property")
            new_size = self._size(arg["new_size"], "new_size")
            allowed = ("available", "in-use") if req.mv_at_least(3, 42) else ("available",)
            if vol.status not in allowed:
                raise bad_request(f"Invalid volume: Volume status must be "
                                  f"{' or '.join(repr(s) for s in allowed)} to extend, "
                                  f"currently {vol.status}.")
            if new_size <= vol.size:
                raise bad_request(f"Invalid input received: New size for extend must be "
                                  f"greater than current size. (current: {vol.size}, "
                                  f"extended: {new_size}).")
            self._check_quota(region, vol.project_id, volumes=0,
                              gigabytes=new_size - vol.size, size=new_size)
            vol.size = new_size
            vol.updated_at = now()
            return Response(status=202)
        if name == "os-reset_status":
            self._policy(req, "volume_extension:volume_admin_actions:reset_status")
            status = arg.get("status") if isinstance(arg, dict) else None
            if status not in ("available", "in-use", "error", "creating", "deleting",
                              "attaching", "detaching", "error_deleting", "maintenance",
                              "reserved", "error_extending", "extending"):
                raise bad_request(f"Invalid input for field/attribute status. Value: {status}.")
            if status == "in-use" and not vol.attachments:  # as Cinder's volume API refuses
                raise bad_request("Cannot reset-state to in-use because volume does not have "
                                  "any attachments.")
            vol.status = status
            vol.updated_at = now()
            return Response(status=202)
        if name == "os-force_delete":
            self._policy(req, "volume_extension:volume_admin_actions:force_delete")
            del region.volumes[vol.id]
            return Response(status=202)
        if name == "os-set_bootable":
            value = arg.get("bootable") if isinstance(arg, dict) else None
            if not isinstance(value, (bool, str)) or \
                    str(value).lower() not in ("true", "false", "1", "0"):
                raise bad_request("Bad value for 'bootable'")
            vol.bootable = str(value).lower() in ("true", "1")
            return Response(status=200)
        if name == "os-update_readonly_flag":
            if not isinstance(arg, dict) or not isinstance(arg.get("readonly"), bool):
                raise bad_request("Invalid value for 'readonly'")
            vol.metadata["readonly"] = str(arg["readonly"])
            return Response(status=202)
        raise bad_request(f"There is no such action: {name}")

    # --- metadata ------------------------------------------------------------------------------

    @staticmethod
    def _meta(vol: Volume) -> dict[str, str]:
        return {k: v for k, v in vol.metadata.items() if not k.startswith("_")}

    def get_metadata(self, req: Request, volume_id: str, project_id: str | None = None
                     ) -> Response:
        return json_response({"metadata": self._meta(self._get(req, volume_id))})

    def merge_metadata(self, req: Request, volume_id: str, project_id: str | None = None
                       ) -> Response:
        vol = self._get(req, volume_id)
        vol.metadata.update(self._metadata(self._body(req, "metadata")))
        return json_response({"metadata": self._meta(vol)})

    def replace_metadata(self, req: Request, volume_id: str, project_id: str | None = None
                         ) -> Response:
        vol = self._get(req, volume_id)
        vol.metadata = self._metadata(self._body(req, "metadata"))
        return json_response({"metadata": self._meta(vol)})

    def get_meta_key(self, req: Request, volume_id: str, key: str,
                     project_id: str | None = None) -> Response:
        vol = self._get(req, volume_id)
        if key not in self._meta(vol):
            raise not_found(f"Volume {vol.id} has no metadata with key {key}.")
        return json_response({"meta": {key: vol.metadata[key]}})

    def put_meta_key(self, req: Request, volume_id: str, key: str,
                     project_id: str | None = None) -> Response:
        vol = self._get(req, volume_id)
        meta = self._metadata(self._body(req, "meta"))
        if list(meta) != [key]:
            raise bad_request("Request body and URI mismatch")
        vol.metadata[key] = meta[key]
        return json_response({"meta": meta})

    def delete_meta_key(self, req: Request, volume_id: str, key: str,
                        project_id: str | None = None) -> Response:
        vol = self._get(req, volume_id)
        if key not in self._meta(vol):
            raise not_found(f"Volume {vol.id} has no metadata with key {key}.")
        del vol.metadata[key]
        return Response(status=200)
