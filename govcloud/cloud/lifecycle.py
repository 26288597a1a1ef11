"""A system's servers resized, stopped, snapshotted and deleted through openstacksdk (the
lifecycle requests' cloud calls: docs/lifecycle.md). Calls are made on the department's
project connection (``govcloud.cloud.provision.ProjectConnections``).

Resizing follows Nova: ``resize`` (202; the server goes to ``RESIZE``), then either
``VERIFY_RESIZE`` on the new flavor (the caller confirms — or reverts) or back to its status
on the old flavor with a fault (the migration failed, e.g. no valid host). Every wait polls
the server (``interval_s``) and raises ``TemporaryError`` when ``timeout_s`` passes first;
every SDK error leaves as a govcloud error naming the site.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.errors import PermanentError, TemporaryError

SETTLED = frozenset({"ACTIVE", "SHUTOFF", "SHELVED_OFFLOADED", "VERIFY_RESIZE", "ERROR"})


@dataclass(frozen=True, slots=True)
class ServerNow:
    """A server as Nova shows it now: status, task, flavor (its name), host and fault."""

    id: str
    status: str
    task: str | None
    flavor: str | None
    host: str | None
    fault: str | None


def find_server(pconn: Connection, site: str, server_id: str) -> ServerNow | None:
    """The server (compute 2.73: the flavor's name embedded), or None when it is gone."""
    with sdk_errors(f"site {site}: server {server_id}"):
        resp = pconn.compute.get(f"/servers/{server_id}", microversion="2.73")
        if resp.status_code == 404:
            return None
        sdk_exc.raise_from_response(resp)
        d = resp.json()["server"]
    fault = d.get("fault") if isinstance(d.get("fault"), dict) else None
    flavor = d.get("flavor") if isinstance(d.get("flavor"), dict) else {}
    return ServerNow(str(d["id"]), str(d.get("status")), d.get("OS-EXT-STS:task_state"),
                     flavor.get("original_name"), d.get("OS-EXT-SRV-ATTR:host"),
                     str(fault["message"]) if fault and fault.get("message") else None)


def get_server(pconn: Connection, site: str, server_id: str) -> ServerNow:
    found = find_server(pconn, site, server_id)
    if found is None:
        raise PermanentError(f"site {site}: server {server_id} is gone")
    return found


def wait_settled(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
                 interval_s: float = 0.5) -> ServerNow:
    """Poll until the server has no task under way and a settled status (ACTIVE, SHUTOFF,
    SHELVED_OFFLOADED, VERIFY_RESIZE or ERROR)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = get_server(pconn, site, server_id)
        if not now.task and now.status in SETTLED:
            return now
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {now.status} "
                                 f"({now.task or 'no task'}) after {timeout_s:.0f} s",
                                 hint="look at the site; the request resumes where it stopped")
        time.sleep(interval_s)


def wait_confirmed(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
                   interval_s: float = 0.5) -> ServerNow:
    """Poll until a confirmed resize is done. Nova answers ``confirmResize`` (204) before it
    is: the API marks the migration ``confirming`` and casts to the source compute, and the
    server stays ``VERIFY_RESIZE`` (no task) until that compute has cleaned up — then it is
    ``ACTIVE`` or ``SHUTOFF`` again (``ERROR`` when the compute failed it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = get_server(pconn, site, server_id)
        if not now.task and now.status in SETTLED and now.status != "VERIFY_RESIZE":
            return now
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {now.status} "
                                 f"({now.task or 'no task'}) {timeout_s:.0f} s after its "
                                 "resize was confirmed",
                                 hint="look at the source host's nova-compute; the request "
                                      "resumes where it stopped")
        time.sleep(interval_s)


def last_migration(pconn: Connection, site: str, server_id: str) -> tuple[str, str] | None:
    """The newest resize migration of the server (its id and status), if Nova shows one
    (compute 2.23: ``migration_type``). Nova shows no fault on a server a resize left
    ACTIVE; the migration's status (``error``) is what says it failed."""
    with sdk_errors(f"site {site}: migrations of {server_id}"):
        resp = pconn.compute.get(f"/os-migrations?instance_uuid={server_id}",
                                 microversion="2.23")
        sdk_exc.raise_from_response(resp)
        rows = [m for m in resp.json().get("migrations", [])
                if m.get("migration_type") == "resize"]
    if not rows:
        return None
    rows.sort(key=lambda m: (str(m.get("created_at")), int(m.get("id") or 0)))
    return str(rows[-1].get("id")), str(rows[-1].get("status"))


def flavor_id(pconn: Connection, site: str, name: str) -> str:
    with sdk_errors(f"site {site}: flavor {name}"):
        found: Any = pconn.compute.find_flavor(name, ignore_missing=True)
    if found is None:
        raise PermanentError(f"site {site}: unknown flavor {name!r}")
    return str(found.id)


def resize(pconn: Connection, site: str, server_id: str, flavor: str) -> None:
    """Ask Nova to resize the server to flavor id ``flavor`` (not waiting)."""
    with sdk_errors(f"site {site}: resizing {server_id}"):
        pconn.compute.resize_server(server_id, flavor)


def confirm(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: confirming the resize of {server_id}"):
        pconn.compute.confirm_server_resize(server_id)


def revert(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: reverting the resize of {server_id}"):
        pconn.compute.revert_server_resize(server_id)


def stop(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: stopping {server_id}"):
        pconn.compute.stop_server(server_id)


def start(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: starting {server_id}"):
        pconn.compute.start_server(server_id)


def unshelve(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: unshelving {server_id}"):
        pconn.compute.unshelve_server(server_id)


def delete(pconn: Connection, site: str, server_id: str) -> None:
    with sdk_errors(f"site {site}: deleting {server_id}"):
        pconn.compute.delete_server(server_id, ignore_missing=True)


def wait_gone(pconn: Connection, site: str, server_id: str, *, timeout_s: float,
              interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        now = find_server(pconn, site, server_id)
        if now is None or now.status == "DELETED":
            return
        if now.status == "ERROR" and not now.task:
            raise PermanentError(f"site {site}: server {server_id} went to ERROR while being "
                                 f"deleted: {now.fault or 'no fault given'}")
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: server {server_id} still {now.status} after "
                                 f"{timeout_s:.0f} s of deleting",
                                 hint="look at the site; the request resumes where it stopped")
        time.sleep(interval_s)


# --- final snapshots ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ImageNow:
    id: str
    status: str


def find_image(pconn: Connection, site: str, name: str, server_id: str) -> ImageNow | None:
    """The snapshot image ``name`` of ``server_id`` an earlier attempt made, if any."""
    with sdk_errors(f"site {site}: looking for image {name}"):
        found = [i for i in pconn.image.images(name=name)
                 if (getattr(i, "properties", None) or {}).get("instance_uuid") == server_id
                 or getattr(i, "instance_uuid", None) == server_id]
    if not found:
        return None
    found.sort(key=lambda i: str(i.created_at or ""))
    return ImageNow(str(found[-1].id), str(found[-1].status))


def snapshot(pconn: Connection, site: str, server_id: str, name: str,
             metadata: dict[str, str]) -> str:
    """Nova ``createImage`` of the server; the new image's id."""
    with sdk_errors(f"site {site}: snapshotting {server_id}"):
        image_id = pconn.compute.create_server_image(server_id, name, metadata=metadata,
                                                     wait=False)
    return str(getattr(image_id, "id", image_id))


def wait_image(pconn: Connection, site: str, image_id: str, *, timeout_s: float,
               interval_s: float = 0.5) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with sdk_errors(f"site {site}: image {image_id}"):
            image: Any = pconn.image.find_image(image_id, ignore_missing=True)
        if image is None or image.status in ("killed", "deleted", "deactivated"):
            raise PermanentError(f"site {site}: snapshot image {image_id} is "
                                 f"{'gone' if image is None else image.status}")
        if image.status == "active":
            return
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: snapshot image {image_id} still {image.status}"
                                 f" after {timeout_s:.0f} s", hint="look at the image service")
        time.sleep(interval_s)


def delete_image(pconn: Connection, site: str, image_id: str) -> None:
    with sdk_errors(f"site {site}: deleting image {image_id}"):
        pconn.image.delete_image(image_id, ignore_missing=True)
