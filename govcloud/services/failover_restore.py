"""A failover's promote restores the recovery point's Cinder backups (docs/dr.md, "Failover
restores the data"): for each member whose copy's latest good point holds Cinder backups in
the receiving site, each backup is restored into a volume named
``<member>-restored-p<point>-vol<n>`` and attached to the promoted copy server.

Idempotent and resumable after a ``kill -9`` anywhere: the point is pinned in the failover's
state on first sight; each volume is found again by its name (a restore asked for and not
finished is waited for, one in ``error`` deleted and restored again, one already attached to
the copy left as it is), so a resumed promote neither restores twice nor leaves a volume
behind. The volumes are the system's (metadata ``govcloud_restored`` = the member,
``govcloud_system`` = ``department/system``, ``govcloud_point``), not a run's: no drill or
failover tag, so ``cloud.dr.leftovers`` does not take them. Volumes restored for an earlier
point and still attached to the server (an earlier failover's, kept by the copy after
failback) are detached and deleted once the new ones are attached: the newer point holds
newer data; the server's other data volumes (production's own, on failback) are detached and
kept, marked superseded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from govcloud.cloud import dr_volumes as cinder
from govcloud.domain.recovery import ArtifactKind, PointRecord
from govcloud.errors import PermanentError
from govcloud.store import protection_repo

RESTORED_KEY, SYSTEM_KEY, POINT_KEY = "govcloud_restored", "govcloud_system", "govcloud_point"
SUPERSEDED_KEY = "govcloud_superseded_by"
BOOT_DEVICES = frozenset({"/dev/vda", "/dev/sda", "/dev/xvda"})
SETTLING = frozenset({"creating", "restoring-backup", "downloading", "attaching",
                      "detaching"})


@dataclass(frozen=True, slots=True)
class RestoredVolume:
    """One backup of a point restored into a volume attached to the promoted server."""

    member: str
    volume_id: str
    backup_id: str
    size_gib: int
    bootable: bool

    def as_json(self) -> dict[str, Any]:
        return {"member": self.member, "volume": self.volume_id, "backup": self.backup_id,
                "size_gib": self.size_gib, "bootable": self.bootable}


def volume_name(member: str, point_id: int, n: int) -> str:
    return f"{member}-restored-p{point_id}-vol{n}"


def backups_in(point: PointRecord, site: str) -> list[str]:
    """The point's Cinder backups held in ``site``, in the point's order (by device)."""
    return [a.id for a in point.artifacts if a.kind is ArtifactKind.BACKUP and a.site == site]


def latest_points(engine: Any, department: str, site: str, copies: Mapping[str, str]
                  ) -> dict[str, PointRecord]:
    """Each member's copy's latest good point in ``site`` (whole), where it has one."""
    with engine.connect() as conn:
        latest = {p.server_id: p for p in protection_repo.latest_recovery_points(
            conn, departments=[department]) if p.site == site}
        out = {}
        for member, sid in copies.items():
            point = latest.get(sid)
            whole = protection_repo.recovery_point(conn, point.id) \
                if point is not None and point.id is not None else None
            if whole is not None:
                out[member] = whole
    return out


def _restored_volume(pconn: Any, site: str, backup_id: str, name: str, meta: Mapping[str, str],
                     *, timeout_s: float) -> cinder.VolumeInfo:
    """The volume ``name`` restored from ``backup_id``: the one an earlier attempt made when
    it is usable (waited for while it settles), else a new restore."""
    for found in cinder.volumes_named(pconn, site, name):
        if found.status in ("error", "error_restoring"):  # a failed attempt's: not kept
            cinder.delete_volume(pconn, site, found.id, timeout_s=timeout_s)
            continue
        if found.status in SETTLING:
            attaching = found.status == "attaching" or bool(found.attached_to)
            cinder.wait_volume(pconn, site, found.id, timeout_s=timeout_s,
                               status="in-use" if attaching else "available")
        cinder.set_volume_metadata(pconn, site, found.id, **meta)
        return cinder.get_volume_info(pconn, site, found.id)
    volume_id = cinder.restore_backup(pconn, site, backup_id, name=name, timeout_s=timeout_s)
    cinder.set_volume_metadata(pconn, site, volume_id, **meta)
    return cinder.get_volume_info(pconn, site, volume_id)


def restore_member(pconn: Any, site: str, *, department: str, system: str, member: str,
                   server_id: str, point: PointRecord, timeout_s: float,
                   restored: Callable[[str], None] = lambda _volume_id: None
                   ) -> list[RestoredVolume]:
    """Restore ``point``'s backups in ``site`` into volumes attached to ``server_id``;
    ``restored`` is told each volume once it is restored, before it is attached (the crash
    tests' fault point)."""
    assert point.id is not None
    out = []
    meta = {RESTORED_KEY: member, SYSTEM_KEY: f"{department}/{system}",
            POINT_KEY: str(point.id)}
    for n, backup_id in enumerate(backups_in(point, site)):
        vol = _restored_volume(pconn, site, backup_id, volume_name(member, point.id, n), meta,
                               timeout_s=timeout_s)
        restored(vol.id)
        others = [s for s in vol.attached_to if s != server_id]
        if others:
            raise PermanentError(f"site {site}: restored volume {vol.name} ({vol.id}) is "
                                 f"attached to server {others[0]}, not to {member}",
                                 hint="detach it, then run the failover again to resume")
        if server_id not in vol.attached_to:
            cinder.attach_volume(pconn, site, server_id, vol.id, timeout_s=timeout_s)
        out.append(RestoredVolume(member, vol.id, backup_id, vol.size, vol.bootable))
    return out


def drop_superseded(pconn: Any, site: str, *, member: str, server_id: str, point_id: int,
                    timeout_s: float) -> list[str]:
    """The server's other data volumes, superseded by those just restored from ``point_id``:
    each detached; one restored for ``member`` from an earlier point also deleted (its data is
    older), any other kept, marked ``govcloud_superseded_by`` the point (production's own
    volumes after a failback, never deleted by govcloud). One line each; the boot disk and
    bootable volumes are left as they are."""
    lines = []
    for attached in cinder.attached_volumes(pconn, site, server_id):
        if attached.bootable or attached.device in BOOT_DEVICES:
            continue
        vol = cinder.get_volume_info(pconn, site, attached.volume_id)
        if vol.meta(POINT_KEY) == str(point_id) and vol.meta(RESTORED_KEY) == member:
            continue
        cinder.detach_volume(pconn, site, server_id, vol.id, timeout_s=timeout_s)
        if vol.meta(RESTORED_KEY) == member:
            cinder.delete_volume(pconn, site, vol.id, timeout_s=timeout_s)
            lines.append(f"{site} {member}: volume {vol.id} restored from an earlier point "
                         "detached and deleted")
            continue
        cinder.set_volume_metadata(pconn, site, vol.id, **{SUPERSEDED_KEY: str(point_id)})
        lines.append(f"{site} {member}: volume {vol.name or vol.id} ({vol.id}) detached and "
                     f"kept, superseded by recovery point #{point_id}'s")
    return lines


def describe(site: str, restored: RestoredVolume) -> str:
    kind = "boot volume (attached as a data disk)" if restored.bootable else "volume"
    return (f"{site} {restored.member}: {kind} {restored.volume_id} restored from backup "
            f"{restored.backup_id}, {restored.size_gib} GiB, attached")


__all__ = ["RestoredVolume", "backups_in", "describe", "drop_superseded", "latest_points",
           "restore_member", "volume_name"]
