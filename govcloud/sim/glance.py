"""Glance v2: images (list, show, create, JSON-patch update, delete, upload/download, stage and
import, tags, deactivate/reactivate), image schemas, import info and version documents.

Image documents have Glance's exact fields (custom properties flat at the top level), lists
page with ``limit``/``marker`` and a ``next`` link like Glance, and errors come back in
Glance's plain-text shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import uuid as uuidlib
from typing import Any
from urllib.parse import urlencode

from govcloud.sim import guest_disk
from govcloud.sim.http import (
    ApiError,
    Request,
    Response,
    Router,
    bad_request,
    conflict,
    forbidden,
    json_response,
    not_found,
)
from govcloud.sim.model import Image, iso, now
from govcloud.sim.state import Cloud, RegionState

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
READ_ONLY = ("id", "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
             "created_at", "updated_at", "file", "self", "schema", "direct_url", "stores")
RESERVED = ("location", "deleted", "deleted_at")
BASE_FIELDS = ("name", "disk_format", "container_format", "visibility", "min_disk", "min_ram",
               "protected", "os_hidden", "tags", "owner")
MAX_STORED_BYTES = 64 * 1024 * 1024
LIMIT_DEFAULT = 25
LIMIT_MAX = 1000
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")


class _ImageExtra:
    """Fields the shared Image record does not carry."""

    def __init__(self) -> None:
        self.os_hash_value: str | None = None
        self.virtual_size: int | None = None
        self.os_hidden = False
        self.data: bytes | None = None
        self.staged: bytes | None = None
        self.members: dict[str, dict[str, Any]] = {}  # project id → member record


def _qcow2_virtual_size(data: bytes) -> int | None:
    if len(data) >= 32 and data[:4] == b"QFI\xfb":
        return int(struct.unpack(">Q", data[24:32])[0])
    return None


class GlanceAPI:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.extras: dict[tuple[str, str], _ImageExtra] = {}

    def register(self, router: Router) -> None:
        def add(method: str, pattern: str, handler: Any, **kw: Any) -> None:
            router.add("image", method, pattern, handler, **kw)

        add("GET", "/", self.versions, auth=False)
        add("GET", "/versions", self.versions, auth=False)
        add("GET", "/v2", self.versions, auth=False)
        add("GET", "/v2/images", self.list_images)
        add("POST", "/v2/images", self.create_image)
        add("GET", "/v2/images/{image_id}", self.get_image)
        add("PATCH", "/v2/images/{image_id}", self.update_image)
        add("DELETE", "/v2/images/{image_id}", self.delete_image)
        add("PUT", "/v2/images/{image_id}/file", self.upload)
        add("GET", "/v2/images/{image_id}/file", self.download)
        add("PUT", "/v2/images/{image_id}/stage", self.stage)
        add("POST", "/v2/images/{image_id}/import", self.import_image)
        add("PUT", "/v2/images/{image_id}/tags/{tag}", self.add_tag)
        add("DELETE", "/v2/images/{image_id}/tags/{tag}", self.delete_tag)
        add("POST", "/v2/images/{image_id}/actions/deactivate", self.deactivate)
        add("POST", "/v2/images/{image_id}/actions/reactivate", self.reactivate)
        add("GET", "/v2/images/{image_id}/members", self.list_members)
        add("POST", "/v2/images/{image_id}/members", self.add_member)
        add("GET", "/v2/images/{image_id}/members/{member_id}", self.get_member)
        add("PUT", "/v2/images/{image_id}/members/{member_id}", self.update_member)
        add("DELETE", "/v2/images/{image_id}/members/{member_id}", self.delete_member)
        add("GET", "/v2/schemas/member", self.member_schema)
        add("GET", "/v2/schemas/members", self.members_schema)
        add("GET", "/v2/schemas/image", self.image_schema)
        add("GET", "/v2/schemas/images", self.images_schema)
        add("GET", "/v2/info/import", self.import_info)

    # --- versions ------------------------------------------------------------------------------

    def versions(self, req: Request) -> Response:
        href = req.base_url + "/v2/"
        items = [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]
        for minor in range(15, -1, -1):
            items.append({"id": f"v2.{minor}", "status": "SUPPORTED",
                          "links": [{"rel": "self", "href": href}]})
        return json_response({"versions": items}, 300)

    # --- helpers -------------------------------------------------------------------------------

    def _region(self, req: Request) -> RegionState:
        return self.cloud.region(req.region)

    def _extra(self, req: Request, image: Image) -> _ImageExtra:
        key = (req.region or "", image.id)
        extra = self.extras.get(key)
        if extra is None:
            extra = _ImageExtra()
            if image.status == "active":
                # seeded images: stable hashes and a virtual size derived from their size
                extra.os_hash_value = hashlib.sha512(image.name.encode()).hexdigest()
                extra.virtual_size = image.size * 4 if image.disk_format == "qcow2" \
                    else image.size
            self.extras[key] = extra
        if extra.data is None and (disk := self._region(req).guest_disks.get(image.id)):
            extra.data = disk  # a snapshot Nova made: its data is the guest disk
            extra.os_hash_value = hashlib.sha512(disk).hexdigest()
            extra.virtual_size = None
        return extra

    def _visible(self, req: Request, image: Image) -> bool:
        auth = req.auth
        if auth.is_admin or image.visibility in ("public", "community"):
            return True
        if image.owner == auth.project_id:
            return True
        return image.visibility == "shared" and \
            auth.project_id in self._extra(req, image).members

    def _listed(self, req: Request, image: Image, member_status: str) -> bool:
        """Glance's default list: public, own, and shared ones whose membership matches."""
        auth = req.auth
        if image.visibility == "public" or image.owner == auth.project_id:
            return True
        if image.visibility != "shared":
            return False
        member = self._extra(req, image).members.get(auth.project_id or "")
        return member is not None and member_status in ("all", member["status"])

    def _get(self, req: Request, image_id: str) -> Image:
        image = self._region(req).images.get(image_id)
        if image is None or not self._visible(req, image):
            raise not_found(f"No image found with ID {image_id}")
        return image

    def _may_modify(self, req: Request, image: Image, action: str) -> None:
        if not req.auth.is_admin and image.owner != req.auth.project_id:
            raise forbidden(f"You are not authorized to complete {action} action.")

    def _image_json(self, req: Request, image: Image) -> dict[str, Any]:
        extra = self._extra(req, image)
        active_like = image.status in ("active", "deactivated")
        doc: dict[str, Any] = {
            "name": image.name,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "visibility": image.visibility,
            "size": image.size if active_like or image.size else None,
            "virtual_size": extra.virtual_size,
            "status": image.status,
            "checksum": image.checksum,
            "protected": image.protected,
            "min_ram": image.min_ram,
            "min_disk": image.min_disk,
            "owner": image.owner,
            "os_hidden": extra.os_hidden,
            "os_hash_algo": "sha512" if extra.os_hash_value else None,
            "os_hash_value": extra.os_hash_value,
            "id": image.id,
            "created_at": iso(image.created_at),
            "updated_at": iso(image.updated_at),
            "tags": list(image.tags),
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
        # no "stores": it only appears when Glance runs with multiple stores configured
        if image.os_distro:
            doc["os_distro"] = image.os_distro
        for key, value in image.properties.items():
            doc.setdefault(key, value)
        return doc

    def _json_body(self, req: Request) -> Any:
        if not req.body:
            raise bad_request("Malformed JSON in request body.")
        try:
            return json.loads(req.body)
        except ValueError:
            raise bad_request("Malformed JSON in request body.") from None

    @staticmethod
    def _schema_error(message: str) -> ApiError:
        return bad_request(f"Provided object does not match schema 'image': {message}")

    def _apply(self, req: Request, image: Image, key: str, value: Any, *,
               creating: bool) -> None:
        """Set one attribute with Glance's validation."""
        if key in READ_ONLY and not (creating and key == "id"):
            raise forbidden(f"Attribute '{key}' is read-only.")
        if key in RESERVED:
            raise forbidden(f"Attribute '{key}' is reserved.")
        if key == "name":
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'null', 'string'"
                                         if not isinstance(value, str)
                                         else f"'{value}' is too long")
            image.name = value  # type: ignore[assignment]  # Glance names may be null
        elif key == "disk_format":
            if value is not None and value not in DISK_FORMATS:
                raise self._schema_error(f"{json.dumps(value)} is not one of "
                                         f"{list(DISK_FORMATS) + [None]}")
            if image.status not in ("queued",) and not creating:
                raise forbidden("Attribute disk_format can be only replaced for a queued "
                                "image.")
            image.disk_format = value
        elif key == "container_format":
            if value is not None and value not in CONTAINER_FORMATS:
                raise self._schema_error(f"{json.dumps(value)} is not one of "
                                         f"{list(CONTAINER_FORMATS) + [None]}")
            if image.status not in ("queued",) and not creating:
                raise forbidden("Attribute container_format can be only replaced for a queued "
                                "image.")
            image.container_format = value
        elif key == "visibility":
            if value not in VISIBILITIES:
                raise self._schema_error(f"{json.dumps(value)} is not one of "
                                         f"{list(VISIBILITIES)}")
            if value == "public" and not req.auth.is_admin:
                raise forbidden("You are not authorized to complete publicize_image action.")
            image.visibility = value
        elif key in ("min_disk", "min_ram"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'integer'")
            if value < 0:
                raise self._schema_error(f"{value} is less than the minimum of 0")
            setattr(image, key, value)
        elif key in ("protected", "os_hidden"):
            if not isinstance(value, bool):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'boolean'")
            if key == "protected":
                image.protected = value
            else:
                self._extra(req, image).os_hidden = value
        elif key == "tags":
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'array'")
            if any(len(t) > 255 for t in value):
                raise self._schema_error("tag is too long")
            image.tags = list(dict.fromkeys(value))
        elif key == "owner":
            if not req.auth.is_admin and value != image.owner:
                raise forbidden("Attribute 'owner' is read-only.")
            image.owner = value
        elif key == "os_distro":
            if not isinstance(value, str):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'string'")
            image.os_distro = value
        else:
            if value is not None and not isinstance(value, str):
                raise self._schema_error(f"{json.dumps(value)} is not of type 'string'")
            if len(key) > 255:
                raise self._schema_error(f"'{key}' is too long")
            image.properties[key] = value

    # --- list / show ---------------------------------------------------------------------------

    def list_images(self, req: Request) -> Response:
        auth = req.auth
        images = list(self._region(req).images.values())
        visibility = req.arg("visibility")
        if visibility is not None and visibility not in VISIBILITIES + ("all",):
            raise bad_request(f"Invalid visibility value: {visibility}")
        member_status = req.arg("member_status", "accepted")
        if visibility in (None, "all"):
            if not auth.is_admin:
                images = [i for i in images if self._listed(req, i, member_status or "")]
        elif visibility == "shared" and not auth.is_admin:
            images = [i for i in images if i.visibility == "shared"
                      and self._listed(req, i, member_status or "")]
        else:
            images = [i for i in images if i.visibility == visibility
                      and self._visible(req, i)]
        hidden = req.arg("os_hidden")
        want_hidden = hidden is not None and hidden.lower() == "true"
        images = [i for i in images if self._extra(req, i).os_hidden == want_hidden]
        for key in ("name", "status", "owner", "disk_format", "container_format"):
            if (value := req.arg(key)) is not None:
                values = value[3:].split(",") if value.startswith("in:") else [value]
                images = [i for i in images if getattr(i, key) in values]
        if (value := req.arg("id")) is not None:
            values = value[3:].split(",") if value.startswith("in:") else [value]
            images = [i for i in images if i.id in values]
        if (value := req.arg("protected")) is not None:
            if value.lower() not in ("true", "false"):
                raise bad_request(f"Invalid value '{value}' for 'protected' filter. Valid "
                                  "values are 'true' or 'false'.")
            images = [i for i in images if i.protected == (value.lower() == "true")]
        for tag in req.args("tag"):
            images = [i for i in images if tag in i.tags]
        for key, op in (("size_min", min), ("size_max", max)):
            if (value := req.arg(key)) is not None:
                try:
                    bound = int(value)
                except ValueError:
                    raise bad_request(f"Invalid value for {key}: {value}") from None
                images = [i for i in images if i.size is not None and
                          (i.size >= bound if op is min else i.size <= bound)]
        known = {"visibility", "os_hidden", "name", "status", "owner", "disk_format",
                 "container_format", "id", "protected", "tag", "size_min", "size_max",
                 "limit", "marker", "sort", "sort_key", "sort_dir", "member_status",
                 "created_at", "updated_at"}
        for key in set(req.query) - known:
            value = req.arg(key)
            images = [i for i in images if self._prop(i, key) == value]
        images = self._sort(req, images)
        limit = req.int_arg("limit", LIMIT_DEFAULT)
        assert limit is not None
        limit = min(limit, LIMIT_MAX)
        marker = req.arg("marker")
        if marker is not None:
            ids = [i.id for i in images]
            if marker not in ids:
                raise bad_request(f"Invalid marker. Image {marker} could not be found.")
            images = images[ids.index(marker) + 1:]
        page = images[:limit]
        params = [(k, v) for k, vs in req.query.items() if k != "marker" for v in vs]
        body: dict[str, Any] = {"images": [self._image_json(req, i) for i in page],
                                "first": "/v2/images" + (f"?{urlencode(params)}" if params
                                                         else ""),
                                "schema": "/v2/schemas/images"}
        if page and len(page) == limit:
            body["next"] = "/v2/images?" + urlencode(params + [("marker", page[-1].id)])
        return json_response(body)

    @staticmethod
    def _prop(image: Image, key: str) -> Any:
        if key == "os_distro":
            return image.os_distro
        return image.properties.get(key)

    def _sort(self, req: Request, images: list[Image]) -> list[Image]:
        keys: list[tuple[str, str]] = []
        sort = req.arg("sort")
        sort_keys = req.args("sort_key")
        sort_dirs = req.args("sort_dir")
        if sort is not None and (sort_keys or sort_dirs):
            raise bad_request("The 'sort' and 'sort_key'/'sort_dir' parameters cannot be "
                              "combined.")
        allowed = {"name", "status", "container_format", "disk_format", "size", "id",
                   "created_at", "updated_at", "min_disk", "min_ram", "owner", "visibility",
                   "protected", "virtual_size"}
        if sort is not None:
            for item in sort.split(","):
                key, _, direction = item.strip().partition(":")
                keys.append((key, direction or "desc"))
        else:
            for n, key in enumerate(sort_keys):
                keys.append((key, sort_dirs[n] if n < len(sort_dirs) else
                             (sort_dirs[0] if sort_dirs else "desc")))
            if not keys:
                keys = [("created_at", sort_dirs[0] if sort_dirs else "desc")]
        for key, direction in keys:
            if key not in allowed:
                raise bad_request(f"Invalid sort key: {key}. It must be one of the following: "
                                  f"{', '.join(sorted(allowed))}.")
            if direction not in ("asc", "desc"):
                raise bad_request(f"Invalid sort direction: {direction}")
        if "id" not in [k for k, _ in keys]:
            keys.append(("id", keys[-1][1]))
        for key, direction in reversed(keys):
            def value(i: Image, key: str = key) -> Any:
                v = self._extra(req, i).virtual_size if key == "virtual_size" \
                    else getattr(i, key)
                return (v is not None, v if v is not None else 0)
            images = sorted(images, key=value, reverse=direction == "desc")
        return images

    def get_image(self, req: Request, image_id: str) -> Response:
        return json_response(self._image_json(req, self._get(req, image_id)))

    # --- create / update / delete --------------------------------------------------------------

    def create_image(self, req: Request) -> Response:
        doc = self._json_body(req)
        if not isinstance(doc, dict):
            raise bad_request("Malformed JSON in request body.")
        region = self._region(req)
        image_id = doc.get("id") or str(uuidlib.uuid4())
        try:
            image_id = str(uuidlib.UUID(str(image_id)))
        except ValueError:
            raise self._schema_error(f"'{doc['id']}' does not match "
                                     "'^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
                                     "([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'") from None
        if image_id in region.images:
            raise conflict(f"Image with identifier {image_id} already exists!")
        ts = now()
        image = Image(id=image_id, name="", status="queued", disk_format=None,  # type: ignore
                      container_format=None, size=None, visibility="shared",  # type: ignore
                      owner=req.auth.project_id, created_at=ts, updated_at=ts)
        image.name = None  # type: ignore[assignment]
        self.extras[(req.region or "", image.id)] = _ImageExtra()
        for key, value in doc.items():
            if key == "id":
                continue
            self._apply(req, image, key, value, creating=True)
        region.images[image.id] = image
        return json_response(self._image_json(req, image), 201,
                             Location=f"{req.base_url}/v2/images/{image.id}",
                             **{"OpenStack-image-import-methods": ",".join(IMPORT_METHODS)})

    def update_image(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        ctype = (req.header("content-type") or "").split(";")[0].strip()
        if ctype not in ("application/openstack-images-v2.1-json-patch",
                         "application/openstack-images-v2.0-json-patch"):
            raise ApiError(415, f"Unsupported Content-Type {ctype or None}",
                           headers={"Accept-Patch":
                                    "application/openstack-images-v2.1-json-patch, "
                                    "application/openstack-images-v2.0-json-patch"})
        self._may_modify(req, image, "modify_image")
        ops = self._json_body(req)
        if not isinstance(ops, list):
            raise bad_request("Request body must be a JSON array of operation objects.")
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
                raise bad_request("Operation objects must contain exactly one member named "
                                  "\"add\", \"remove\", or \"replace\".")
            path = op.get("path")
            if not isinstance(path, str) or not re.match(r"^/[^/]+(/[^/]+)?$", path):
                raise bad_request(f"Invalid JSON pointer for this resource: '{path}'")
            key = path.split("/")[1].replace("~1", "/").replace("~0", "~")
            if op["op"] in ("add", "replace") and "value" not in op:
                raise bad_request(f"Operation \"{op['op']}\" requires a member named "
                                  "\"value\".")
            if len(path.split("/")) == 3:  # /tags/- style
                if key != "tags":
                    raise bad_request(f"Invalid JSON pointer for this resource: '{path}'")
                if op["op"] == "remove":
                    image.tags = [t for t in image.tags if t != op.get("value")]
                else:
                    self._apply(req, image, "tags", image.tags + [op["value"]], creating=False)
                continue
            if op["op"] == "remove":
                if key in READ_ONLY or key in BASE_FIELDS or key == "os_distro":
                    if key == "os_distro" and image.os_distro is not None:
                        image.os_distro = None
                        continue
                    raise forbidden(f"Attribute '{key}' is read-only." if key in READ_ONLY
                                    else f"Properties {key} cannot be removed.")
                if key not in image.properties:
                    raise conflict(f"Property {key} does not exist.")
                del image.properties[key]
                continue
            if op["op"] == "replace" and key not in BASE_FIELDS and key not in READ_ONLY \
                    and key != "os_distro" and key not in image.properties:
                raise conflict(f"Property {key} does not exist.")
            self._apply(req, image, key, op["value"], creating=False)
        image.updated_at = now()
        return json_response(self._image_json(req, image))

    def delete_image(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        if not req.auth.is_admin and image.owner != req.auth.project_id:
            raise forbidden("You are not permitted to delete this image.")
        if image.protected:
            raise forbidden(f"Image {image.id} is protected and cannot be deleted.")
        self._region(req).drop_image(image.id)
        self.extras.pop((req.region or "", image.id), None)
        return Response(status=204)

    # --- data ----------------------------------------------------------------------------------

    def _store(self, req: Request, image: Image, data: bytes) -> None:
        extra = self._extra(req, image)
        image.size = len(data)
        image.checksum = hashlib.md5(data).hexdigest()  # noqa: S324 - Glance checksum
        extra.os_hash_value = hashlib.sha512(data).hexdigest()
        if image.disk_format in ("raw", "iso"):
            extra.virtual_size = len(data)
        elif image.disk_format == "qcow2":
            extra.virtual_size = _qcow2_virtual_size(data)
        extra.data = data if len(data) <= MAX_STORED_BYTES else None
        if guest_disk.is_guest_disk(data):  # a server booted from it gets the guest's files
            self._region(req).guest_disks[image.id] = data
        image.status = "active"
        image.updated_at = now()

    def upload(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        self._may_modify(req, image, "upload_image")
        ctype = (req.header("content-type") or "").split(";")[0].strip()
        if ctype and ctype != "application/octet-stream":
            raise ApiError(415, f"Content type {ctype} is not supported. Use "
                                "application/octet-stream.")
        if image.status != "queued":
            raise conflict(f"Image status transition from {image.status} to saving is not "
                           "allowed")
        if not image.disk_format or not image.container_format:
            raise bad_request("Properties disk_format, container_format must be set prior to "
                              "saving data.")
        self._store(req, image, req.body)
        return Response(status=204)

    def download(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        if image.status == "deactivated" and not req.auth.is_admin:
            raise forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        extra = self._extra(req, image)
        if image.status != "active" or extra.data is None:
            if image.status == "active":
                raise not_found(f"Image {image.id} has no data available in this simulator.")
            return Response(status=204)
        return Response(status=200, body=extra.data,
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-MD5": image.checksum or ""})

    def stage(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        self._may_modify(req, image, "upload_image")
        if image.status != "queued":
            raise conflict(f"Image status transition from {image.status} to uploading is not "
                           "allowed")
        self._extra(req, image).staged = req.body
        image.status = "uploading"
        image.updated_at = now()
        return Response(status=204)

    def import_image(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        self._may_modify(req, image, "import_image")
        doc = self._json_body(req)
        method = doc.get("method", {}) if isinstance(doc, dict) else {}
        name = method.get("name") if isinstance(method, dict) else None
        if name not in IMPORT_METHODS:
            raise bad_request(f"Import method {name} is not valid.")
        extra = self._extra(req, image)
        if name == "glance-direct":
            if image.status != "uploading" or extra.staged is None:
                raise conflict(f"Image {image.id} is not in uploading state; stage data first.")
            data, extra.staged = extra.staged, None
        elif name == "web-download":
            if image.status != "queued":
                raise conflict(f"Image status transition from {image.status} to importing is "
                               "not allowed")
            uri = method.get("uri", "")
            data = f"web-download:{uri}".encode()
        else:
            return Response(status=202)
        if not image.disk_format or not image.container_format:
            raise bad_request("'disk_format' needs to be set before import")
        self._store(req, image, data)
        return Response(status=202)

    # --- tags, actions, members ----------------------------------------------------------------

    def add_tag(self, req: Request, image_id: str, tag: str) -> Response:
        image = self._get(req, image_id)
        self._may_modify(req, image, "modify_image")
        if len(tag) > 255:
            raise bad_request("Image tag too long.")
        if tag not in image.tags:
            image.tags.append(tag)
            image.updated_at = now()
        return Response(status=204)

    def delete_tag(self, req: Request, image_id: str, tag: str) -> Response:
        image = self._get(req, image_id)
        self._may_modify(req, image, "modify_image")
        if tag not in image.tags:
            raise not_found(f"Tag {tag} not found.")
        image.tags.remove(tag)
        image.updated_at = now()
        return Response(status=204)

    def deactivate(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        if not req.auth.is_admin:
            raise forbidden("You are not authorized to complete deactivate action.")
        if image.status not in ("active", "deactivated"):
            raise forbidden(f"Not allowed to deactivate image in status '{image.status}'")
        image.status = "deactivated"
        return Response(status=204)

    def reactivate(self, req: Request, image_id: str) -> Response:
        image = self._get(req, image_id)
        if not req.auth.is_admin:
            raise forbidden("You are not authorized to complete reactivate action.")
        if image.status not in ("active", "deactivated"):
            raise forbidden(f"Not allowed to reactivate image in status '{image.status}'")
        image.status = "active"
        return Response(status=204)

    def _member_json(self, image: Image, m: dict[str, Any]) -> dict[str, Any]:
        return {"created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"]),
                "image_id": image.id, "member_id": m["member_id"], "status": m["status"],
                "schema": "/v2/schemas/member"}

    def _shared(self, req: Request, image_id: str) -> tuple[Image, _ImageExtra]:
        image = self._get(req, image_id)
        if image.visibility != "shared":
            raise forbidden("Only shared images have members.")
        return image, self._extra(req, image)

    def list_members(self, req: Request, image_id: str) -> Response:
        image, extra = self._shared(req, image_id)
        auth = req.auth
        members = list(extra.members.values())
        if not auth.is_admin and image.owner != auth.project_id:
            members = [m for m in members if m["member_id"] == auth.project_id]
        return json_response({"members": [self._member_json(image, m) for m in members],
                              "schema": "/v2/schemas/members"})

    def add_member(self, req: Request, image_id: str) -> Response:
        image, extra = self._shared(req, image_id)
        self._may_modify(req, image, "add_member")
        doc = self._json_body(req)
        member_id = doc.get("member") if isinstance(doc, dict) else None
        if not isinstance(member_id, str) or not member_id:
            raise bad_request("Member to be added not specified")
        if member_id in extra.members:
            raise conflict(f"The target member {member_id} is already associated with image "
                           f"{image.id}.")
        ts = now()
        extra.members[member_id] = {"member_id": member_id, "status": "pending",
                                    "created_at": ts, "updated_at": ts}
        return json_response(self._member_json(image, extra.members[member_id]))

    def _member(self, req: Request, image_id: str, member_id: str
                ) -> tuple[Image, _ImageExtra, dict[str, Any]]:
        image, extra = self._shared(req, image_id)
        member = extra.members.get(member_id)
        auth = req.auth
        if member is None or (not auth.is_admin and image.owner != auth.project_id
                              and member_id != auth.project_id):
            raise not_found(f"Member {member_id} not found")
        return image, extra, member

    def get_member(self, req: Request, image_id: str, member_id: str) -> Response:
        image, _, member = self._member(req, image_id, member_id)
        return json_response(self._member_json(image, member))

    def update_member(self, req: Request, image_id: str, member_id: str) -> Response:
        image, _, member = self._member(req, image_id, member_id)
        if req.auth.project_id != member_id:
            raise forbidden("You are not permitted to modify 'status' on this image member.")
        doc = self._json_body(req)
        status = doc.get("status") if isinstance(doc, dict) else None
        if status not in ("pending", "accepted", "rejected"):
            raise bad_request(f"Status must be one of: pending, accepted, rejected; got "
                              f"{status}")
        member["status"] = status
        member["updated_at"] = now()
        return json_response(self._member_json(image, member))

    def delete_member(self, req: Request, image_id: str, member_id: str) -> Response:
        image, extra, _ = self._member(req, image_id, member_id)
        self._may_modify(req, image, "delete_member")
        del extra.members[member_id]
        return Response(status=204)

    # --- schemas / info ------------------------------------------------------------------------

    @staticmethod
    def _image_schema() -> dict[str, Any]:
        def s(t: Any, desc: str, **kw: Any) -> dict[str, Any]:
            return {"type": t, "description": desc, **kw}
        props: dict[str, Any] = {
            "id": s("string", "An identifier for the image", readOnly=False,
                    pattern="^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                            "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"),
            "name": s(["null", "string"], "Descriptive name for the image", maxLength=255),
            "status": s("string", "Status of the image", readOnly=True,
                        enum=["queued", "saving", "active", "killed", "deleted", "uploading",
                              "importing", "pending_delete", "deactivated"]),
            "visibility": s("string", "Scope of image accessibility", enum=list(VISIBILITIES)),
            "protected": s("boolean", "If true, image will not be deletable."),
            "os_hidden": s("boolean", "If true, image will not appear in default image list "
                                      "response."),
            "checksum": s(["null", "string"], "md5 hash of image contents.", readOnly=True,
                          maxLength=32),
            "os_hash_algo": s(["null", "string"], "Algorithm to calculate the os_hash_value",
                              readOnly=True, maxLength=64),
            "os_hash_value": s(["null", "string"], "Hexdigest of the image contents using the "
                                                   "algorithm specified by the os_hash_algo",
                               readOnly=True, maxLength=128),
            "owner": s(["null", "string"], "Owner of the image", maxLength=255),
            "size": s(["null", "integer"], "Size of image file in bytes", readOnly=True),
            "virtual_size": s(["null", "integer"], "Virtual size of image in bytes",
                              readOnly=True),
            "container_format": s(["null", "string"], "Format of the container",
                                  enum=[None, *CONTAINER_FORMATS]),
            "disk_format": s(["null", "string"], "Format of the disk",
                             enum=[None, *DISK_FORMATS]),
            "created_at": s("string", "Date and time of image registration", readOnly=True),
            "updated_at": s("string", "Date and time of the last image modification",
                            readOnly=True),
            "tags": {"type": "array", "description": "List of strings related to the image",
                     "items": {"type": "string", "maxLength": 255}},
            "direct_url": s("string", "URL to access the image file kept in external store",
                            readOnly=True),
            "min_ram": s("integer", "Amount of ram (in MB) required to boot image.",
                         minimum=0),
            "min_disk": s("integer", "Amount of disk space (in GB) required to boot image.",
                          minimum=0),
            "self": s("string", "An image self url", readOnly=True),
            "file": s("string", "An image file url", readOnly=True),
            "stores": s("string", "Store in which image data resides.  Only present when the "
                                  "operator has enabled multiple stores.", readOnly=True),
            "schema": s("string", "An image schema url", readOnly=True),
            "locations": {"type": "array", "description": "A set of URLs to access the image "
                                                          "file kept in external store",
                          "items": {"type": "object"}},
            "os_distro": s("string", "Common name of operating system distribution as "
                                     "specified in https://docs.openstack.org/python-glanceclient"
                                     "/latest/cli/property-keys.html", is_base=False),
            "os_version": s("string", "Operating system version as specified by the "
                                      "distributor.", is_base=False),
            "architecture": s("string", "Operating system architecture as specified in "
                                        "https://docs.openstack.org/python-glanceclient/latest/"
                                        "cli/property-keys.html", is_base=False),
            "kernel_id": s(["null", "string"], "ID of image stored in Glance that should be "
                                               "used as the kernel when booting an AMI-style "
                                               "image.", is_base=False),
            "ramdisk_id": s(["null", "string"], "ID of image stored in Glance that should be "
                                                "used as the ramdisk when booting an AMI-style "
                                                "image.", is_base=False),
            "instance_uuid": s("string", "Metadata which can be used to record which instance "
                                         "this image is associated with. (Informational only, "
                                         "does not create an instance snapshot.)",
                               is_base=False),
        }
        return {"name": "image", "properties": props,
                "additionalProperties": {"type": "string"},
                "links": [{"rel": "self", "href": "{self}"},
                          {"rel": "enclosure", "href": "{file}"},
                          {"rel": "describedby", "href": "{schema}"}]}

    def image_schema(self, req: Request) -> Response:
        return json_response(self._image_schema())

    def images_schema(self, req: Request) -> Response:
        return json_response({
            "name": "images",
            "properties": {"images": {"type": "array", "items": self._image_schema()},
                           "schema": {"type": "string"}, "first": {"type": "string"},
                           "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]})

    def member_schema(self, req: Request) -> Response:
        return json_response(self._member_schema())

    def members_schema(self, req: Request) -> Response:
        return json_response({
            "name": "members",
            "properties": {"members": {"type": "array", "items": self._member_schema()},
                           "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}]})

    @staticmethod
    def _member_schema() -> dict[str, Any]:
        return {"name": "member", "properties": {
            "created_at": {"type": "string", "description": "Date and time of image member "
                                                            "creation"},
            "image_id": {"type": "string", "description": "An identifier for the image"},
            "member_id": {"type": "string", "description": "An identifier for the image "
                                                           "member (tenantId)"},
            "status": {"type": "string", "description": "The status of this image member",
                       "enum": ["pending", "accepted", "rejected"]},
            "updated_at": {"type": "string", "description": "Date and time of last "
                                                            "modification of image member"},
            "schema": {"type": "string", "readOnly": True}}}

    def import_info(self, req: Request) -> Response:
        return json_response({"import-methods": {
            "description": "Import methods available.", "type": "array",
            "value": list(IMPORT_METHODS)}})
