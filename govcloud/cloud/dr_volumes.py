"""Cinder operations of the disaster-recovery adapter (split out of ``govcloud/cloud/dr.py``,
which re-exports them): volume snapshots, volumes, and backups exported in one region and
imported and restored in another (docs/dr.md, "Cloud operations"). Also the helpers both
modules share: ``cloud_call`` (openstacksdk errors with a hint) and ``wait_for`` (a bounded
poll), and ``TAG_KEY``, the Cinder metadata key standing in for a tag."""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from openstack import exceptions as sdk_exc
from openstack.connection import Connection

from govcloud.cloud.errors import sdk_errors
from govcloud.errors import GovCloudError, PermanentError, TemporaryError

TAG_KEY = "govcloud_tag"  # Cinder metadata key standing in for a tag



@dataclass(frozen=True, slots=True)
class BackupRecord:
    """What Cinder's export_record gives: enough for another region's Cinder to import."""

    service: str
    url: str

    @property
    def backup_id(self) -> str | None:
        """The backup's id inside the record (Cinder encodes it as base64 JSON)."""
        try:
            doc = json.loads(base64.b64decode(self.url.encode(), validate=True))
        except (binascii.Error, ValueError):
            return None
        return str(doc["id"]) if isinstance(doc, dict) and "id" in doc else None



@contextmanager
def cloud_call(where: str, hint: str) -> Iterator[None]:
    """``sdk_errors`` with a hint for the errors that have none."""
    try:
        with sdk_errors(where):
            yield
    except GovCloudError as exc:
        if exc.hint is None:
            exc.hint = hint
        raise


def wait_for(what: str, site: str, read: Callable[[], tuple[str | None, str]], *,
             done: Iterable[str], failed: Iterable[str], timeout_s: float, interval_s: float,
             gone_ok: bool = False, hint: str) -> str:
    """Poll ``read()`` → (status or None when gone, detail) until a ``done`` status (or gone,
    when ``gone_ok``); PermanentError on a ``failed`` status or an unexpected disappearance,
    TemporaryError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    done, failed = frozenset(done), frozenset(failed)
    while True:
        status, detail = read()
        if status is None:
            if gone_ok:
                return "gone"
            raise PermanentError(f"site {site}: {what} disappeared", hint=hint)
        if status in done:
            return status
        if status in failed:
            raise PermanentError(f"site {site}: {what} is {status}"
                                 + (f": {detail}" if detail else ""), hint=hint)
        if time.monotonic() >= deadline:
            raise TemporaryError(f"site {site}: {what} still {status} after {timeout_s:.0f} s",
                                 hint=f"the cloud is slow or stuck; {hint}")
        time.sleep(interval_s)



# --- volumes and volume snapshots -------------------------------------------------------------

def create_volume_snapshot(conn: Connection, site: str, volume_id: str, name: str, *,
                           force: bool = True, tag: str | None = None) -> str:
    """Start a snapshot of a volume (``force``: also while attached); its id."""
    with cloud_call(f"site {site}: snapshot of volume {volume_id}",
                "the volume must exist and be available (or in-use, with force)"):
        snap: Any = conn.block_storage.create_snapshot(
            volume_id=volume_id, name=name, force=force,
            metadata={TAG_KEY: tag} if tag else {})
    return str(snap.id)


def wait_volume_snapshot(conn: Connection, site: str, snapshot_id: str, *, timeout_s: float,
                         interval_s: float = 0.5) -> None:
    """Wait until the snapshot is ``available``."""
    wait_for(f"volume snapshot {snapshot_id}", site,
             lambda: read_status(site, snapshot_id,
                                 lambda: conn.block_storage.get_snapshot(snapshot_id)),
             done={"available"}, failed={"error", "error_deleting"}, timeout_s=timeout_s,
             interval_s=interval_s, hint="delete the snapshot and take it again")


def read_status(site: str, ident: str, get: Callable[[], Any]) -> tuple[str | None, str]:
    """A Cinder thing's status (None once gone) and its failure reason, if any."""
    with cloud_call(f"site {site}: {ident}", "look at the site's Cinder"):
        try:
            thing = get()
        except sdk_exc.NotFoundException:
            return None, ""
    return str(thing.status), str(getattr(thing, "fail_reason", "") or "")


def delete_volume_snapshot(conn: Connection, site: str, snapshot_id: str, *,
                           timeout_s: float | None = None, interval_s: float = 0.5) -> None:
    """Delete a snapshot (gone already is fine); with ``timeout_s``, wait until it is gone."""
    with cloud_call(f"site {site}: deleting volume snapshot {snapshot_id}",
                "a snapshot is deleted only when available or in error"):
        conn.block_storage.delete_snapshot(snapshot_id, ignore_missing=True)
    if timeout_s is not None:
        wait_for(f"volume snapshot {snapshot_id}", site,
                 lambda: read_status(site, snapshot_id,
                                     lambda: conn.block_storage.get_snapshot(snapshot_id)),
                 done=(), failed={"error_deleting"}, gone_ok=True, timeout_s=timeout_s,
                 interval_s=interval_s, hint="reset the snapshot's status and delete it again")


def create_volume(conn: Connection, site: str, name: str, *, snapshot_id: str | None = None,
                  size: int | None = None, tag: str | None = None) -> str:
    """Start a volume (from a snapshot when given, else empty of ``size`` GiB); its id."""
    attrs: dict[str, Any] = {"name": name, "metadata": {TAG_KEY: tag} if tag else {}}
    if snapshot_id:
        attrs["snapshot_id"] = snapshot_id
    if size is not None:
        attrs["size"] = size
    with cloud_call(f"site {site}: creating volume {name}",
                "the snapshot must be available; check the project's volume quota"):
        vol: Any = conn.block_storage.create_volume(**attrs)
    return str(vol.id)


def wait_volume(conn: Connection, site: str, volume_id: str, *, timeout_s: float,
                interval_s: float = 0.5, status: str = "available") -> None:
    wait_for(f"volume {volume_id}", site,
             lambda: read_status(site, volume_id, lambda: conn.block_storage.get_volume(volume_id)),
             done={status}, failed={"error", "error_restoring", "error_extending"},
             timeout_s=timeout_s, interval_s=interval_s,
             hint="delete the volume and create it again")


def is_bootable(conn: Connection, site: str, volume_id: str) -> bool:
    """Whether Cinder marks the volume bootable (a server can boot from it)."""
    with cloud_call(f"site {site}: volume {volume_id}", "look at the site's Cinder"):
        vol: Any = conn.block_storage.get_volume(volume_id)
    return bool(vol.is_bootable)


def delete_volume(conn: Connection, site: str, volume_id: str, *,
                  timeout_s: float | None = None, interval_s: float = 0.5) -> None:
    """Delete a volume (gone already is fine); with ``timeout_s``, wait until it is gone."""
    with cloud_call(f"site {site}: deleting volume {volume_id}",
                "a volume is deleted only when detached and without snapshots"):
        conn.block_storage.delete_volume(volume_id, ignore_missing=True)
    if timeout_s is not None:
        wait_for(f"volume {volume_id}", site,
                 lambda: read_status(site, volume_id,
                                     lambda: conn.block_storage.get_volume(volume_id)),
                 done=(), failed={"error_deleting"}, gone_ok=True, timeout_s=timeout_s,
                 interval_s=interval_s, hint="look at the volume in the site")


# --- backups ------------------------------------------------------------------------------------

def create_backup(conn: Connection, site: str, volume_id: str, name: str, *,
                  incremental: bool = False, force: bool = True,
                  tag: str | None = None) -> str:
    """Start a Cinder backup of a volume (``force``: also while attached); its id."""
    with cloud_call(f"site {site}: backup of volume {volume_id}",
                "the volume must exist and be available (or in-use, with force); an "
                "incremental backup needs an earlier available one"):
        backup: Any = conn.block_storage.create_backup(
            volume_id=volume_id, name=name, is_incremental=incremental, force=force,
            metadata={TAG_KEY: tag} if tag else {})
    return str(backup.id)


def wait_backup(conn: Connection, site: str, backup_id: str, *, timeout_s: float,
                interval_s: float = 0.5) -> None:
    """Wait until the backup is ``available`` (made, imported or restored from)."""
    wait_for(f"backup {backup_id}", site,
             lambda: read_status(site, backup_id, lambda: conn.block_storage.get_backup(backup_id)),
             done={"available"}, failed={"error", "error_restoring"}, timeout_s=timeout_s,
             interval_s=interval_s, hint="delete the backup and make it again")


def export_backup(conn: Connection, site: str, backup_id: str) -> BackupRecord:
    """Cinder's export record of an available backup (admin)."""
    with cloud_call(f"site {site}: exporting backup {backup_id}",
                "the backup must be available; export and import need the admin role"):
        resp = conn.block_storage.get(f"/backups/{backup_id}/export_record")
        sdk_exc.raise_from_response(resp)
        record = resp.json()["backup-record"]
    return BackupRecord(service=str(record["backup_service"]), url=str(record["backup_url"]))


def import_backup(conn: Connection, site: str, record: BackupRecord) -> str:
    """Import an exported backup into this site's Cinder (admin); the backup's id, which is
    the exported one's. Idempotent: a backup already imported is returned as it is.
    (openstacksdk's ``import_backup`` posts to ``/backups/export_record``, which Cinder does
    not route: this posts to ``/backups/import_record``.)"""
    known = record.backup_id
    with cloud_call(f"site {site}: importing backup {known or '?'}",
                "export and import need the admin role; the backup service must be the same"):
        if known is not None:
            found: Any = conn.block_storage.find_backup(known, ignore_missing=True)
            if found is not None:
                return str(found.id)
        resp = conn.block_storage.post("/backups/import_record", json={"backup-record": {
            "backup_service": record.service, "backup_url": record.url}})
        sdk_exc.raise_from_response(resp)
        return str(resp.json()["backup"]["id"])


def restore_backup(conn: Connection, site: str, backup_id: str, *, timeout_s: float,
                   interval_s: float = 0.5, name: str | None = None,
                   volume_id: str | None = None, tag: str | None = None) -> str:
    """Restore a backup into a new volume (``name``) or the given one, and wait until both the
    backup and the volume are available again; the volume's id."""
    with cloud_call(f"site {site}: restoring backup {backup_id}",
                "the backup must be available (make a new one if it is in error) and the "
                "volume available and no smaller than the backup"):
        backup: Any = conn.block_storage.get_backup(backup_id)
        if backup.status != "available":
            raise PermanentError(f"site {site}: backup {backup_id} is {backup.status}, not "
                                 "available: it cannot be restored" +
                                 (f" ({backup.fail_reason})" if backup.fail_reason else ""))
        body: dict[str, Any] = {"name": name or f"restore-{backup_id}"} if volume_id is None \
            else {"volume_id": volume_id}
        resp = conn.block_storage.post(f"/backups/{backup_id}/restore", json={"restore": body})
        sdk_exc.raise_from_response(resp)
        restored = str(resp.json()["restore"]["volume_id"])
    wait_backup(conn, site, backup_id, timeout_s=timeout_s, interval_s=interval_s)
    wait_volume(conn, site, restored, timeout_s=timeout_s, interval_s=interval_s)
    if tag:
        with cloud_call(f"site {site}: tagging volume {restored}", "look at the site's Cinder"):
            conn.block_storage.set_volume_metadata(restored, **{TAG_KEY: tag})
    return restored


def delete_backup(conn: Connection, site: str, backup_id: str, *,
                  timeout_s: float | None = None, interval_s: float = 0.5) -> None:
    """Delete a backup (gone already is fine); with ``timeout_s``, wait until it is gone."""
    with cloud_call(f"site {site}: deleting backup {backup_id}",
                "a backup is deleted only when available or in error, and after its "
                "incremental backups"):
        conn.block_storage.delete_backup(backup_id, ignore_missing=True)
    if timeout_s is not None:
        wait_for(f"backup {backup_id}", site,
                 lambda: read_status(site, backup_id,
                                     lambda: conn.block_storage.get_backup(backup_id)),
                 done=(), failed={"error_deleting"}, gone_ok=True, timeout_s=timeout_s,
                 interval_s=interval_s, hint="look at the backup in the site")


# --- attachments and listings -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AttachedVolume:
    """A volume attached to a server: its id, device, size (GiB) and volume type's name."""

    volume_id: str
    device: str
    size: int
    bootable: bool
    volume_type: str = ""


def attached_volumes(conn: Connection, site: str, server_id: str) -> list[AttachedVolume]:
    """The Cinder volumes attached to a server, by device (``/dev/vda`` first)."""
    out = []
    with cloud_call(f"site {site}: volumes of server {server_id}",
                    "the server must exist in this site"):
        for a in conn.compute.volume_attachments(server_id):
            vol: Any = conn.block_storage.get_volume(a.volume_id)
            out.append(AttachedVolume(str(a.volume_id), str(a.device or ""), int(vol.size or 0),
                                      bool(vol.is_bootable), str(vol.volume_type or "")))
    return sorted(out, key=lambda v: (v.device, v.volume_id))


@dataclass(frozen=True, slots=True)
class BackupInfo:
    id: str
    name: str
    volume_id: str
    incremental: bool
    status: str
    size: int


def backups_named(conn: Connection, site: str, prefix: str) -> list[BackupInfo]:
    """The project's backups whose name starts with ``prefix``."""
    with cloud_call(f"site {site}: listing backups", "look at the site's Cinder"):
        return [BackupInfo(str(b.id), str(b.name or ""), str(b.volume_id or ""),
                           bool(b.is_incremental), str(b.status), int(b.size or 0))
                for b in conn.block_storage.backups(details=True)
                if str(b.name or "").startswith(prefix)]


def attach_volume(conn: Connection, site: str, server_id: str, volume_id: str, *,
                  timeout_s: float, interval_s: float = 0.5) -> None:
    """Attach a volume to a server and wait until it is ``in-use``."""
    with cloud_call(f"site {site}: attaching volume {volume_id} to server {server_id}",
                    "the volume must be available and the server ACTIVE or SHUTOFF"):
        conn.compute.create_volume_attachment(server_id, volume_id=volume_id)
    wait_volume(conn, site, volume_id, timeout_s=timeout_s, interval_s=interval_s,
                status="in-use")


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """A volume as a restore finds it again: status, size (GiB), the servers it is attached
    to and its metadata."""

    id: str
    name: str
    status: str
    size: int
    bootable: bool
    attached_to: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    def meta(self, key: str) -> str | None:
        return dict(self.metadata).get(key)


def _volume_info(vol: Any) -> VolumeInfo:
    return VolumeInfo(str(vol.id), str(vol.name or ""), str(vol.status), int(vol.size or 0),
                      bool(vol.is_bootable),
                      tuple(sorted(str(a.get("server_id")) for a in vol.attachments or ()
                                   if a.get("server_id"))),
                      tuple(sorted((str(k), str(v)) for k, v in (vol.metadata or {}).items())))


def get_volume_info(conn: Connection, site: str, volume_id: str) -> VolumeInfo:
    with cloud_call(f"site {site}: volume {volume_id}", "look at the volume in the site"):
        return _volume_info(conn.block_storage.get_volume(volume_id))


def volumes_named(conn: Connection, site: str, name: str) -> list[VolumeInfo]:
    """The project's volumes named exactly ``name`` (a restore's, found again on retry)."""
    with cloud_call(f"site {site}: listing volumes named {name}", "look at the site's Cinder"):
        return [_volume_info(v) for v in conn.block_storage.volumes(details=True, name=name)
                if str(v.name or "") == name]


def set_volume_metadata(conn: Connection, site: str, volume_id: str, **meta: str) -> None:
    with cloud_call(f"site {site}: metadata of volume {volume_id}",
                    "look at the site's Cinder"):
        conn.block_storage.set_volume_metadata(volume_id, **meta)


def detach_volume(conn: Connection, site: str, server_id: str, volume_id: str, *,
                  timeout_s: float, interval_s: float = 0.5) -> None:
    """Detach a volume from a server (detached already is fine) and wait until it is
    ``available``."""
    with cloud_call(f"site {site}: detaching volume {volume_id} from server {server_id}",
                    "the server must be ACTIVE, SHUTOFF or shelved"):
        conn.compute.delete_volume_attachment(server_id, volume_id, ignore_missing=True)
    wait_volume(conn, site, volume_id, timeout_s=timeout_s, interval_s=interval_s)
