"""The deprecated compute image proxy (/images), gone from microversion 2.36 on."""

from __future__ import annotations

from typing import Any

from govcloud.sim.http import (
    Request,
    Response,
    Router,
    bad_request,
    forbidden,
    json_response,
    no_content,
    not_found,
)
from govcloud.sim.model import Image, now
from govcloud.sim.nova_common import (
    NovaContext,
    check_keys,
    iso,
    limit_and_marker,
    links,
    metadata_field,
    next_link,
    parse_time,
)
from govcloud.sim.state import RegionState

STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "importing": "SAVING",
          "uploading": "SAVING", "deleted": "DELETED", "pending_delete": "DELETED",
          "killed": "ERROR", "deactivated": "ERROR"}
PROGRESS = {"ACTIVE": 100, "SAVING": 25}


class ImageRoutes:
    def __init__(self, api: NovaContext) -> None:
        self.api = api

    def register(self, router: Router) -> None:
        add = router.add
        c = "compute"
        add(c, "GET", "/v2.1/images", self.index)
        add(c, "GET", "/v2.1/images/detail", self.detail)
        add(c, "GET", "/v2.1/images/{image_id}", self.show)
        add(c, "DELETE", "/v2.1/images/{image_id}", self.delete)
        add(c, "GET", "/v2.1/images/{image_id}/metadata", self.meta_index)
        add(c, "POST", "/v2.1/images/{image_id}/metadata", self.meta_update)
        add(c, "PUT", "/v2.1/images/{image_id}/metadata", self.meta_replace)
        add(c, "GET", "/v2.1/images/{image_id}/metadata/{key}", self.meta_show)
        add(c, "PUT", "/v2.1/images/{image_id}/metadata/{key}", self.meta_put)
        add(c, "DELETE", "/v2.1/images/{image_id}/metadata/{key}", self.meta_delete)

    def _region(self, req: Request) -> RegionState:
        region = self.api.region(req)
        if req.mv_at_least(2, 36):
            raise not_found("The resource could not be found.")
        return region

    @staticmethod
    def _visible(req: Request, img: Image) -> bool:
        return (img.visibility in ("public", "community") or req.auth.is_admin
                or img.owner == req.auth.project_id)

    def _get(self, req: Request, region: RegionState, image_id: str) -> Image:
        img = region.images.get(image_id)
        if img is None or not self._visible(req, img):
            raise not_found("Image not found.")
        return img

    @staticmethod
    def _meta(img: Image) -> dict[str, str]:
        return {k: v if isinstance(v, str) else str(v) for k, v in img.properties.items()}

    def _view(self, req: Request, img: Image, detail: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": img.id, "name": img.name}
        lk = links(req, "images", img.id)
        lk.append({"rel": "alternate", "type": "application/vnd.openstack.image",
                   "href": f"{req.base_url.rsplit('/', 1)[0]}/image/images/{img.id}"})
        if detail:
            status = STATUS.get(img.status, "UNKNOWN")
            out.update({"minDisk": img.min_disk, "minRam": img.min_ram,
                        "progress": PROGRESS.get(status, 0), "status": status,
                        "created": iso(img.created_at), "updated": iso(img.updated_at),
                        "metadata": self._meta(img), "OS-EXT-IMG-SIZE:size": img.size})
            sid = img.properties.get("instance_uuid")
            if sid:
                out["server"] = {"id": sid, "links": links(req, "servers", sid)}
        out["links"] = lk
        return out

    def _list(self, req: Request, detail: bool) -> Response:
        region = self._region(req)
        limit, marker = limit_and_marker(req)
        name, status = req.arg("name"), req.arg("status")
        server = req.arg("server")
        kind = req.arg("type")
        since = req.arg("changes-since")
        since_t = parse_time(since, "changes-since") if since else None
        min_disk, min_ram = req.arg("minDisk"), req.arg("minRam")
        out = []
        for img in region.images.values():
            if not self._visible(req, img):
                continue
            if name is not None and img.name != name:
                continue
            if status is not None and STATUS.get(img.status, "UNKNOWN") != status.upper():
                continue
            if server is not None and img.properties.get("instance_uuid") != \
                    server.rstrip("/").rsplit("/", 1)[-1]:
                continue
            if kind == "SNAPSHOT" and img.properties.get("image_type") != "snapshot":
                continue
            if kind == "BASE" and img.properties.get("image_type") == "snapshot":
                continue
            if since_t is not None and img.updated_at < since_t:
                continue
            try:
                if min_disk is not None and img.min_disk < int(min_disk):
                    continue
                if min_ram is not None and img.min_ram < int(min_ram):
                    continue
            except ValueError:
                raise bad_request("Invalid minDisk or minRam filter") from None
            out.append(img)
        out.sort(key=lambda i: (i.created_at, i.id), reverse=True)
        if marker is not None:
            ids = [i.id for i in out]
            if marker not in ids:
                raise bad_request(f"marker [{marker}] not found")
            out = out[ids.index(marker) + 1:]
        out = out[:limit]
        body: dict[str, Any] = {"images": [self._view(req, i, detail) for i in out]}
        if out and len(out) >= limit:
            body["images_links"] = [next_link(req, "images/detail" if detail else "images",
                                              out[-1].id)]
        return json_response(body)

    def index(self, req: Request) -> Response:
        return self._list(req, False)

    def detail(self, req: Request) -> Response:
        return self._list(req, True)

    def show(self, req: Request, image_id: str) -> Response:
        region = self._region(req)
        return json_response({"image": self._view(req, self._get(req, region, image_id),
                                                  True)})

    def delete(self, req: Request, image_id: str) -> Response:
        region = self._region(req)
        img = self._get(req, region, image_id)
        if img.protected:
            raise forbidden("Image is protected")
        if not req.auth.is_admin and img.owner != req.auth.project_id:
            raise forbidden(f"You are not permitted to delete image {image_id}")
        region.drop_image(image_id)
        return no_content()

    # --- metadata --------------------------------------------------------------------------

    def _write(self, req: Request, img: Image, props: dict[str, Any]) -> None:
        if not req.auth.is_admin and img.owner != req.auth.project_id:
            raise forbidden("You are not authorized to access image")
        limit = 128
        if len(props) > limit:
            raise forbidden(f"Maximum number of metadata items exceeds {limit}")
        img.properties = props
        img.updated_at = now()

    def meta_index(self, req: Request, image_id: str) -> Response:
        region = self._region(req)
        return json_response({"metadata": self._meta(self._get(req, region, image_id))})

    def meta_update(self, req: Request, image_id: str) -> Response:
        region = self._region(req)
        doc = req.json_object()
        check_keys(doc, {"metadata"})
        meta = metadata_field(doc)
        img = self._get(req, region, image_id)
        self._write(req, img, {**img.properties, **meta})
        return json_response({"metadata": self._meta(img)})

    def meta_replace(self, req: Request, image_id: str) -> Response:
        region = self._region(req)
        doc = req.json_object()
        check_keys(doc, {"metadata"})
        meta = metadata_field(doc)
        img = self._get(req, region, image_id)
        self._write(req, img, meta)
        return json_response({"metadata": self._meta(img)})

    def meta_show(self, req: Request, image_id: str, key: str) -> Response:
        region = self._region(req)
        img = self._get(req, region, image_id)
        if key not in img.properties:
            raise not_found("Invalid metadata key")
        return json_response({"meta": {key: self._meta(img)[key]}})

    def meta_put(self, req: Request, image_id: str, key: str) -> Response:
        region = self._region(req)
        doc = req.json_object()
        check_keys(doc, {"meta"})
        meta = metadata_field(doc, "meta")
        if key not in meta:
            raise bad_request("Request body and URI mismatch")
        if len(meta) > 1:
            raise bad_request("Request body contains too many items")
        img = self._get(req, region, image_id)
        self._write(req, img, {**img.properties, **meta})
        return json_response({"meta": meta})

    def meta_delete(self, req: Request, image_id: str, key: str) -> Response:
        region = self._region(req)
        img = self._get(req, region, image_id)
        if key not in img.properties:
            raise not_found("Metadata item was not found")
        self._write(req, img, {k: v for k, v in img.properties.items() if k != key})
        return no_content()
