"""Bringing a recovery point's data up in a DR site, for a drill or a failover (docs/dr.md,
"Restoring a recovery point"): ``restore_point`` restores the point's Cinder backups there into
new volumes and boots one server from them — from its bootable volume, else from the point's
image, else from the image the caller gives — on the network the caller gives, the other
volumes attached; it returns what it made so the caller can remove it (``remove_restored``).

Everything it makes is named from ``name`` and carries ``tag`` (a Nova tag on the server, the
``govcloud_tag`` metadata on the volumes), so ``cloud.dr.leftovers`` finds it. A restore that
fails part way removes what it made before raising.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from govcloud.cloud import dr
from govcloud.domain.recovery import ArtifactKind, PointRecord, PointStatus
from govcloud.errors import GovCloudError, PermanentError

log = logging.getLogger(__name__)


@dataclass
class Restored:
    """What a restore made in one site: the server (None when there was nothing to boot
    from) and the volumes, the boot volume first."""

    site: str
    server_id: str | None = None
    volumes: list[str] = field(default_factory=list)
    boot: str = ""  # "volume", "image" or "" (no server)


def _sources(point: PointRecord, site: str) -> tuple[list[str], list[str]]:
    """The point's backups and images held in ``site``."""
    if point.status is not PointStatus.OK:
        raise PermanentError(f"recovery point #{point.id} is {point.status}: nothing to "
                             "restore from", hint="restore the copy's latest good point")
    backups = [a.id for a in point.artifacts if a.kind is ArtifactKind.BACKUP and a.site == site]
    images = [a.id for a in point.artifacts if a.kind is ArtifactKind.IMAGE and a.site == site]
    if not backups and not images:
        held = ", ".join(f"{a.kind.value} in {a.site}" for a in point.artifacts) or "nothing"
        raise PermanentError(f"recovery point #{point.id} holds no backup or image in site "
                             f"{site} (it holds {held})",
                             hint="restore it in the site its artifacts are in")
    return backups, images


def restore_point(conn: Any, site: str, point: PointRecord, *, name: str, flavor: str,
                  network_id: str, image_id: str | None = None, tag: str | None = None,
                  timeout_s: float, interval_s: float = 0.5) -> Restored:
    """Restore ``point`` in ``site`` (``conn`` scoped to the project to restore into) and boot
    a server of ``flavor`` on ``network_id``; what was made. ``image_id`` boots the server
    when the point has neither a bootable volume nor an image (a server booted from an image
    with data volumes); without any, only the volumes are restored."""
    backups, images = _sources(point, site)
    out = Restored(site)
    try:
        for i, backup_id in enumerate(backups):
            out.volumes.append(dr.restore_backup(conn, site, backup_id, name=f"{name}-vol{i}",
                                                 tag=tag, timeout_s=timeout_s,
                                                 interval_s=interval_s))
        bootable = [v for v in out.volumes if dr.is_bootable(conn, site, v)]
        source = images[0] if images else image_id
        if not bootable and source is None:
            return out
        tags = [tag] if tag else []
        if bootable:
            out.volumes.sort(key=lambda v: v != bootable[0])
            out.server_id = dr.boot_server(conn, site, name=name, flavor=flavor,
                                           network_id=network_id, volume_id=bootable[0],
                                           tags=tags, delete_volume_on_termination=False)
            out.boot = "volume"
        else:
            out.server_id = dr.boot_server(conn, site, name=name, flavor=flavor,
                                           network_id=network_id, image_id=source, tags=tags)
            out.boot = "image"
        dr.wait_server(conn, site, out.server_id, timeout_s=timeout_s, interval_s=interval_s)
        for volume_id in out.volumes[1 if out.boot == "volume" else 0:]:
            dr.attach_volume(conn, site, out.server_id, volume_id, timeout_s=timeout_s,
                             interval_s=interval_s)
    except GovCloudError:
        remove_restored(conn, out, timeout_s=timeout_s, interval_s=interval_s, quiet=True)
        raise
    return out


def remove_restored(conn: Any, restored: Restored, *, timeout_s: float,
                    interval_s: float = 0.5, quiet: bool = False) -> None:
    """Delete what a restore made: the server (waited until gone), then its volumes.
    ``quiet`` logs a failure instead of raising it (the clean-up of a failed restore)."""
    site = restored.site
    try:
        if restored.server_id is not None:
            dr.delete_server(conn, site, restored.server_id, timeout_s=timeout_s,
                             interval_s=interval_s)
        for volume_id in restored.volumes:
            dr.delete_volume(conn, site, volume_id, timeout_s=timeout_s, interval_s=interval_s)
    except GovCloudError as exc:
        if not quiet:
            raise
        log.warning("restore in %s: could not remove what it made (%s): %s", site,
                    restored, exc.message)


__all__ = ["Restored", "remove_restored", "restore_point"]
