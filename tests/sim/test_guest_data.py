"""Guest data follows images in the simulator (govcloud/sim/guest_disk.py): a snapshot of a
sandboxed server carries its sandbox root's files, Glance serves them as the image's data, an
upload of that data to another region's Glance carries them there, and a server booted from
the image (or unshelved) gets them in its sandbox root. Unmodified openstacksdk over HTTP; the
sandboxes are directories only (no sshd is needed to check files)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.sim.guest_disk import MARKER, capture, is_guest_disk
from tests.sim.conftest import SimHandle

MEMBER = "govcloud-sim-gd-psd"
IMAGE = "cirros-0.6.2-x86_64-disk"
FLAVOR = "gc.c1m2"


def _pool(sim: SimHandle, *roots: Path) -> None:
    boxes = []
    for i, root in enumerate(roots):
        root.mkdir(parents=True, exist_ok=True)
        boxes.append({"address": "127.0.0.1", "port": 40000 + i, "user": "root",
                      "root": str(root)})
    answer = httpx.post(f"{sim.base_url}/_sim/sandboxes", json={"sandboxes": boxes}, timeout=10)
    assert answer.status_code == 200


def _boot(conn: Any, name: str, image_id: str) -> Any:
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    server = conn.compute.create_server(name=name, image_id=image_id, flavor_id=flavor.id,
                                        networks="none")
    return conn.compute.wait_for_server(server, wait=30, interval=0.1)


@pytest.fixture
def user(sim: SimHandle) -> Any:
    return sim.connect(MEMBER)


def test_snapshot_carries_files_to_another_region(sim: SimHandle, user: Any,
                                                  tmp_path: Path) -> None:
    _pool(sim, tmp_path / "a", tmp_path / "b")
    base = user.image.find_image(IMAGE, ignore_missing=False)
    prod = _boot(user, "guest-src", base.id)
    assert prod.metadata["sim:root"] == str(tmp_path / "a")
    (tmp_path / "a" / "srv" / "data").mkdir(parents=True)
    (tmp_path / "a" / "srv" / "data" / "orders.csv").write_text("1,apple\n")
    (tmp_path / "a" / "etc").mkdir()
    (tmp_path / "a" / "etc" / "app.conf").write_text("port=8080\n")
    (tmp_path / "a" / "link").symlink_to("/etc/passwd")  # never followed, never copied
    image = user.compute.create_server_image(prod, name="guest-snap", wait=True, timeout=30)
    assert image.status == "active"
    data = user.image.download_image(image).content
    assert is_guest_disk(data)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = tar.getnames()
    assert names[0] == MARKER and "link" not in names
    assert {"srv/data/orders.csv", "etc/app.conf"} <= set(names)
    # another region's Glance: download + upload, as govcloud/cloud/dr.py copies images
    dr = sim.connect(MEMBER, region="DR-REMOTE")
    copy = dr.image.create_image(name="guest-snap", data=data, disk_format="qcow2",
                                 container_format="bare", visibility="private",
                                 allow_duplicates=True)
    copy = dr.image.get_image(copy.id)
    assert copy.status == "active" and copy.checksum == image.checksum
    booted = _boot(dr, "guest-copy", copy.id)
    assert booted.metadata["sim:root"] == str(tmp_path / "b")
    assert (tmp_path / "b" / "srv" / "data" / "orders.csv").read_text() == "1,apple\n"
    assert (tmp_path / "b" / "etc" / "app.conf").read_text() == "port=8080\n"
    assert not (tmp_path / "b" / "link").exists()


def test_unshelve_gives_the_guest_its_files_back(sim: SimHandle, user: Any,
                                                 tmp_path: Path) -> None:
    base = user.image.find_image(IMAGE, ignore_missing=False)
    bare = _boot(user, "guest-bare", base.id)  # no sandbox in the pool yet
    assert "sim:ssh" not in bare.metadata
    _pool(sim, tmp_path / "a", tmp_path / "c")
    server = _boot(user, "guest-shelve", base.id)
    (tmp_path / "a" / "state.txt").write_text("before shelve\n")
    user.compute.shelve_server(server)
    user.compute.wait_for_server(server, status="SHELVED_OFFLOADED", wait=30, interval=0.1)
    (tmp_path / "a" / "state.txt").write_text("lost with the host\n")
    user.compute.unshelve_server(server)
    user.compute.wait_for_server(server, wait=30, interval=0.1)
    assert (tmp_path / "a" / "state.txt").read_text() == "before shelve\n"
    # a server that had no sandbox takes the pool's next one on unshelve (an empty guest)
    user.compute.shelve_server(bare)
    user.compute.wait_for_server(bare, status="SHELVED_OFFLOADED", wait=30, interval=0.1)
    user.compute.unshelve_server(bare)
    back = user.compute.wait_for_server(bare, wait=30, interval=0.1)
    assert back.metadata["sim:root"] == str(tmp_path / "c")


def test_create_image_answers_like_nova(sim: SimHandle, user: Any) -> None:
    base = user.image.find_image(IMAGE, ignore_missing=False)
    server = _boot(user, "guest-nova", base.id)
    new = user.compute.post(f"/servers/{server.id}/action", json={"createImage": {
        "name": "snap-245"}}, microversion="2.45")
    assert new.status_code == 202 and new.headers["Location"].endswith(
        new.json()["image_id"])
    old = user.compute.post(f"/servers/{server.id}/action", json={"createImage": {
        "name": "snap-21"}}, microversion="2.1")
    assert old.status_code == 202 and not old.content and "/images/" in old.headers["Location"]
    # without a sandbox the snapshot is an empty guest: still downloadable data
    image_id = new.json()["image_id"]
    assert is_guest_disk(user.image.download_image(image_id).content)


def test_capture_refuses_the_machine_root(tmp_path: Path) -> None:
    empty = capture(None)
    assert empty is not None and is_guest_disk(empty)
    assert not is_guest_disk(b"\x1f\x8bnot a tar")
    from govcloud.sim.guest_disk import sandbox_root
    from govcloud.sim.model import Server

    server = Server(id="x", name="x", project_id="p", user_id="u", flavor=None,  # type: ignore[arg-type]
                    image_id="", created_at=None, updated_at=None,  # type: ignore[arg-type]
                    metadata={"sim:ssh": "127.0.0.1:22", "sim:root": "/"})
    assert sandbox_root(server) is None
    server.metadata["sim:root"] = str(tmp_path)
    assert sandbox_root(server) == tmp_path
