"""Volume protection cycles (docs/dr.md, "Volume protection cycles"): a copy whose member keeps
its data on Cinder volumes is protected by backups of those volumes instead of a file sync.

One cycle backs up every volume attached to the production server in the production site
(incremental on the volume's latest backup, a full one to start each chain; ``force`` for a
volume in use), exports each backup's record and imports it — with the backups before it in
its chain — into the copy's DR site, and records a ``volume-backup`` recovery point whose
artifacts are the backups there (``backup``, the DR site, the id: the same id in both sites),
one per volume in device order. The production guest's checksum manifest of the data paths
is read over SSH when the guest is reachable (what a drill verifies restored data against);
an unreachable guest leaves the point without one. The copy server itself is not touched.

Import moves only the record: the DR site's cinder-backup must read the production site's
backup store (one shared or replicated store, as Cinder's export/import expects).

Retention (``dr_protect_volume_keep``): after a good cycle, each volume's backups in both sites
beyond the newest ``keep`` are deleted, never one a latest good recovery point of the system
names nor one such a backup builds on (``domain/volume_backups.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.cloud import dr_volumes as cinder
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord, PointStatus
from govcloud.domain.volume_backups import (
    NAME_PREFIX,
    BackupEntry,
    backup_name,
    needs,
    series,
    to_delete,
    want_incremental,
)
from govcloud.errors import GovCloudError
from govcloud.services.dr_posture import CopyServer
from govcloud.services.protection_cycle import (
    CycleDeps,
    CycleFailed,
    CycleRun,
    Progress,
    guest_endpoint,
    guest_manifest,
    pin_guest,
    present_paths,
    project_conn,
    record_point,
)
from govcloud.ssh.hosts import HostKeyChanged
from govcloud.store import protection_repo as repo

log = logging.getLogger(__name__)
GIB = 1 << 30
_members_lock = threading.Lock()
_members: dict[tuple[str, str], threading.Lock] = {}


def _member_lock(copy: CopyServer) -> threading.Lock:
    """One lock per production server: its copies' cycles back its volumes up one at a time
    (Cinder refuses a backup of a volume while another is being made)."""
    with _members_lock:
        return _members.setdefault((copy.production_site, copy.production_id),
                                   threading.Lock())


@dataclass
class _Sites:
    prod: Any
    dr: Any


def member_volumes(deps: CycleDeps, copy: CopyServer) -> tuple[Any, list[cinder.AttachedVolume]]:
    """The production connection and the volumes attached to the copy's member."""
    conn, _ = project_conn(deps, copy.production_site, copy.department)
    return conn, cinder.attached_volumes(conn, copy.production_site, copy.production_id)


def _entries(conn: Any, site: str) -> list[BackupEntry]:
    return [BackupEntry(b.id, b.name, b.incremental, b.status)
            for b in cinder.backups_named(conn, site, NAME_PREFIX)]


def _manifest(deps: CycleDeps, r: CycleRun, prod_conn: Any, say: Progress) -> None:
    """The production guest's manifest of the data paths, when it can be read."""
    c = r.copy
    try:
        ep = guest_endpoint(deps, prod_conn, c.production_site, c.production_id)
        pin_guest(deps, ep, prod_conn, c.production_site, c.production_id)
        paths = present_paths(deps, ep, r.paths)
        r.manifest = guest_manifest(deps, ep, paths) if paths else ()
    except (GovCloudError, CycleFailed) as exc:
        if isinstance(exc.__cause__, HostKeyChanged):
            raise  # a key the cloud does not show: the cycle fails (the guest was not read)
        reason = exc.message if isinstance(exc, GovCloudError) else exc.reason
        say(f"{c.site}/{c.name}: no manifest, the guest could not be read: {reason[:200]}")
        r.manifest = ()


def _back_up(deps: CycleDeps, r: CycleRun, sites: _Sites,
             volumes: Sequence[cinder.AttachedVolume], say: Progress) -> list[str]:
    """A backup of each volume in the production site, waited for; their ids."""
    c = r.copy
    with _member_lock(c):
        return _back_up_now(deps, r, sites, volumes, say)


def _back_up_now(deps: CycleDeps, r: CycleRun, sites: _Sites,
                 volumes: Sequence[cinder.AttachedVolume], say: Progress) -> list[str]:
    c, keep, wait = r.copy, deps.settings.dr_protect_volume_keep, _timeout(deps)
    r.started = deps.clock()  # the data is safe up to the moment the backups start
    existing = _entries(sites.prod, c.production_site)
    made = []
    for v in volumes:
        incremental = want_incremental(series(existing, v.volume_id), keep)
        made.append(cinder.create_backup(sites.prod, c.production_site, v.volume_id,
                                         backup_name(v.volume_id, r.started),
                                         incremental=incremental, force=True))
        say(f"{c.site}/{c.name}: {'incremental' if incremental else 'full'} backup of "
            f"volume {v.volume_id} ({v.device}) in {c.production_site}")
    for backup_id in made:
        cinder.wait_backup(sites.prod, c.production_site, backup_id, timeout_s=wait)
    return made


def _carry(deps: CycleDeps, r: CycleRun, sites: _Sites, volumes: Sequence[cinder.AttachedVolume],
           made: Sequence[str], say: Progress) -> None:
    """Each new backup, with the backups it builds on, into the copy's DR site."""
    c, wait = r.copy, _timeout(deps)
    existing = _entries(sites.prod, c.production_site)
    for v, backup_id in zip(volumes, made, strict=True):
        for needed in needs(series(existing, v.volume_id), backup_id):
            record = cinder.export_backup(sites.prod, c.production_site, needed)
            cinder.import_backup(sites.dr, c.site, record)
            cinder.wait_backup(sites.dr, c.site, needed, timeout_s=wait)
        say(f"{c.site}/{c.name}: backup {backup_id} of volume {v.volume_id} imported")
    r.artifacts = tuple(Artifact(ArtifactKind.BACKUP, c.site, b) for b in made)
    r.size_bytes = sum(v.size for v in volumes) * GIB


def _timeout(deps: CycleDeps) -> float:
    return deps.settings.dr_protect_timeout_s


def run_volume_cycle(deps: CycleDeps, copy: CopyServer, *, paths: Sequence[str] | None = None,
                     progress: Progress | None = None) -> PointRecord | None:
    """One volume cycle of ``copy``, recorded; None when the copy is not protected by volumes
    (``dr_protect_volumes`` never, or auto and its member has no volume attached): the
    caller then runs the file cycle."""
    mode = deps.settings.dr_protect_volumes
    if mode == "never":
        return None
    say: Progress = progress or (lambda _line: None)
    r = CycleRun(copy, tuple(paths or deps.settings.dr_protect_paths), deps.clock())
    made: list[str] = []
    try:
        prod_conn, volumes = member_volumes(deps, copy)
        if not volumes:
            if mode == "auto":
                return None
            raise CycleFailed(PointStatus.FAILED, f"{copy.production_site}/{copy.name} has no "
                                                  "volume attached (dr_protect_volumes: always)")
        dr_conn, _ = project_conn(deps, copy.site, copy.department)
        sites = _Sites(prod_conn, dr_conn)
        _manifest(deps, r, prod_conn, say)
        made = _back_up(deps, r, sites, volumes, say)
        _carry(deps, r, sites, volumes, made, say)
    except CycleFailed as exc:
        return record_point(deps, r, exc.status, exc.reason, PointKind.VOLUME_BACKUP)
    except GovCloudError as exc:
        status = PointStatus.PARTIAL if made else PointStatus.FAILED
        return record_point(deps, r, status, exc.message, PointKind.VOLUME_BACKUP)
    point = record_point(deps, r, PointStatus.OK, None, PointKind.VOLUME_BACKUP)
    say(f"{copy.site}/{copy.name}: volume backups {len(made)}, files in the manifest "
        f"{len(r.manifest)}")
    prune_backups(deps, copy, sites, [v.volume_id for v in volumes])
    return point


def _protected(deps: CycleDeps, copy: CopyServer) -> set[str]:
    """The backups a latest good recovery point of the system names (in any site)."""
    with deps.engine.connect() as conn:
        latest = repo.latest_recovery_points(conn, departments=[copy.department])
    return {a.id for p in latest if p.system == copy.system for a in p.artifacts
            if a.kind is ArtifactKind.BACKUP}


def prune_backups(deps: CycleDeps, copy: CopyServer, sites: _Sites,
                  volume_ids: Sequence[str]) -> int:
    """Retention of the volumes' backups in the production and the copy's site; how many were
    deleted. A failure is logged and left for the next cycle."""
    keep, protected, gone = deps.settings.dr_protect_volume_keep, _protected(deps, copy), 0
    for conn, site in ((sites.prod, copy.production_site), (sites.dr, copy.site)):
        try:
            entries = _entries(conn, site)
            for volume_id in volume_ids:
                for backup_id in to_delete(series(entries, volume_id), keep, protected):
                    cinder.delete_backup(conn, site, backup_id, timeout_s=_timeout(deps))
                    gone += 1
        except GovCloudError as exc:
            log.warning("protection: backups of %s/%s in %s not pruned: %s", copy.site,
                        copy.server_id, site, exc.message)
    return gone


__all__ = ["member_volumes", "prune_backups", "run_volume_cycle"]
