"""Glance v2 in the simulator, driven by unmodified openstacksdk and the openstack CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import openstack.exceptions
import pytest

OPENSTACK = str(Path(sys.executable).with_name("openstack"))
IMAGE_FIELDS = {"id", "name", "status", "visibility", "owner", "size", "virtual_size",
                "disk_format", "container_format", "min_disk", "min_ram", "protected",
                "checksum", "os_hash_algo", "os_hash_value", "os_hidden", "created_at",
                "updated_at", "tags", "file", "self", "schema"}


def test_versions_need_no_token(sim):
    req = urllib.request.Request(sim.base_url + "/PROD/image/versions")
    try:
        urllib.request.urlopen(req, timeout=10)
    except urllib.error.HTTPError as exc:  # Glance answers 300 Multiple Choices
        assert exc.code == 300
        doc = json.loads(exc.read())
    assert doc["versions"][0]["id"] == "v2.16" and doc["versions"][0]["status"] == "CURRENT"
    assert doc["versions"][0]["links"][0]["href"].endswith("/PROD/image/v2/")


def test_seeded_images_have_glance_fields(sim):
    conn = sim.connect()
    raw = conn.image.get("/images", raise_exc=False).json()
    assert raw["first"] == "/v2/images" and raw["schema"] == "/v2/schemas/images"
    names = {i["name"] for i in raw["images"]}
    assert names == {i.name for i in sim.cloud.regions["PROD"].images.values()}
    for doc in raw["images"]:
        assert set(doc) >= IMAGE_FIELDS
        assert doc["self"] == f"/v2/images/{doc['id']}"
        assert doc["os_hash_algo"] == "sha512" and len(doc["os_hash_value"]) == 128
        assert doc["created_at"].endswith("Z")
    # default order is newest first, ties broken by id, so the SDK's paging sees them all
    assert [i.id for i in conn.image.images(limit=2)] == [i["id"] for i in raw["images"]]


def test_paging_next_link_and_bad_marker(sim):
    conn = sim.connect()
    page = conn.image.get("/images?limit=2&sort=name:asc").json()
    assert len(page["images"]) == 2
    assert page["next"].startswith("/v2/images?") and "marker=" in page["next"]
    assert [i["name"] for i in page["images"]] == sorted(i["name"] for i in page["images"])
    resp = conn.image.get("/images?marker=nope", raise_exc=False)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text.startswith("400 Bad Request\n\nInvalid marker")


def test_create_upload_download_update_delete(sim):
    conn = sim.connect("govcloud-sim-gd-psd")
    data = b"\x00" * 4096 + b"govcloud"
    image = conn.image.create_image(name="dept-image", data=data, disk_format="raw",
                                    container_format="bare", allow_duplicates=True,
                                    validate_checksum=True)
    image = conn.image.get_image(image)
    assert image.status == "active" and image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()  # noqa: S324 - Glance's checksum
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.visibility == "shared" and image.virtual_size == len(data)
    assert image.owner == conn.current_project_id
    assert conn.image.download_image(image).content == data
    image = conn.image.update_image(image, name="dept-image-2", os_distro="kylin",
                                    gov_level="3")
    assert image.name == "dept-image-2"
    conn.image.add_tag(image, "dept:gd-psd")
    shown = conn.image.get("/images/" + image.id).json()
    assert shown["os_distro"] == "kylin" and shown["gov_level"] == "3"  # properties are flat
    assert shown["tags"] == ["dept:gd-psd"]
    # another department cannot see it, and gets Glance's text 404
    other = sim.connect("govcloud-sim-gd-tax")
    resp = other.image.get("/images/" + image.id, raise_exc=False)
    assert resp.status_code == 404
    assert resp.text.startswith("404 Not Found\n\nNo image found with ID")
    # a protected image cannot be deleted; the owner may unprotect it
    conn.image.update_image(image, is_protected=True)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        conn.image.delete_image(image)
    conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


def test_policy_and_validation(sim):
    user = sim.connect("govcloud-sim-gd-psd")
    admin = sim.connect()
    resp = user.image.post("/images", json={"name": "x", "visibility": "public"},
                           raise_exc=False)
    assert resp.status_code == 403 and "publicize_image" in resp.text
    resp = user.image.post("/images", json={"name": "x", "disk_format": "floppy"},
                           raise_exc=False)
    assert resp.status_code == 400 and "does not match schema" in resp.text
    resp = user.image.post("/images", json={"name": "x", "size": 5}, raise_exc=False)
    assert resp.status_code == 403 and "read-only" in resp.text
    public = next(i for i in sim.cloud.regions["PROD"].images.values())
    resp = user.image.delete("/images/" + public.id, raise_exc=False)
    assert resp.status_code == 403
    # uploading into an active image is a conflict
    resp = admin.image.put(f"/images/{public.id}/file", data=b"x",
                           headers={"Content-Type": "application/octet-stream"},
                           raise_exc=False)
    assert resp.status_code == 409


def test_image_list_with_the_openstack_cli(sim):
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(sim.clouds_yaml),
           "OS_CLOUD": "govcloud-sim", "OS_REGION_NAME": "DR-REMOTE"}
    out = subprocess.run([OPENSTACK, "image", "list", "-f", "json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["Name"] for r in rows} == \
        {i.name for i in sim.cloud.regions["DR-REMOTE"].images.values()}
    assert {r["Status"] for r in rows} == {"active"}
