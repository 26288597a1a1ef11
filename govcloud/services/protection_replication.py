"""The replication check of a synchronous copy (docs/dr.md, "Synchronous replication: DR
level 6"): an RPO of 0 is met only by the storage replicating every write, which govcloud
cannot make Cinder do on its own. What it can check — and does, on the protection worker's
schedule instead of a cycle — is that every volume attached to the copy server in its DR site
is of the replicated volume type (``dr_replicated_volume_type``), the type the operators
configured to replicate synchronously. The outcome is a ``replication`` recovery point: ``ok``
(RPO 0 by replication) or ``failed`` with what is not replicated; the posture reads the last
one. Nothing is copied and the copy server is not touched.
"""

from __future__ import annotations

from govcloud.cloud import dr_volumes as cinder
from govcloud.domain.recovery import PointKind, PointRecord, PointStatus
from govcloud.errors import GovCloudError
from govcloud.services.dr_posture import CopyServer
from govcloud.services.protection_cycle import (
    CycleDeps,
    CycleRun,
    Progress,
    project_conn,
    record_point,
)

GIB = 1 << 30
MAX_NAMED = 3


def unreplicated(volumes: list[cinder.AttachedVolume], wanted: str) -> list[str]:
    """The volumes not of the ``wanted`` type, in words."""
    return [f"{v.volume_id} ({v.device or 'no device'}) is of type "
            f"{v.volume_type or 'none'!r}" for v in volumes if v.volume_type != wanted]


def run_replication_check(deps: CycleDeps, copy: CopyServer, *,
                          progress: Progress | None = None) -> PointRecord:
    """Check and record that ``copy``'s volumes in its DR site are replicated."""
    say: Progress = progress or (lambda _line: None)
    wanted = deps.settings.dr_replicated_volume_type
    r = CycleRun(copy, (), deps.clock())
    where = f"{copy.site}/{copy.name}"
    try:
        conn, _ = project_conn(deps, copy.site, copy.department)
        volumes = cinder.attached_volumes(conn, copy.site, copy.server_id)
    except GovCloudError as exc:
        return record_point(deps, r, PointStatus.FAILED, f"{where}: not checked: {exc.message}",
                            PointKind.REPLICATION)
    if not volumes:
        return record_point(deps, r, PointStatus.FAILED,
                            f"{where} has no volume attached: synchronous replication is of "
                            f"Cinder volumes of type {wanted!r}", PointKind.REPLICATION)
    bad = unreplicated(volumes, wanted)
    if bad:
        more = f"; and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
        return record_point(deps, r, PointStatus.FAILED,
                            f"{where}: volume {'; '.join(bad[:MAX_NAMED])}{more}, not the "
                            f"replicated type {wanted!r}", PointKind.REPLICATION)
    r.size_bytes = sum(v.size for v in volumes) * GIB
    say(f"{where}: {len(volumes)} volumes of the replicated type {wanted}")
    return record_point(deps, r, PointStatus.OK, None, PointKind.REPLICATION)


__all__ = ["run_replication_check", "unreplicated"]
