"""The replication check of a synchronous copy (docs/dr.md, "Synchronous replication: DR
level 6"): an RPO of 0 is met only by the storage replicating every write, which govcloud
cannot make Cinder do on its own. What it can check — and does after each protection cycle
of such a copy — is that every volume attached to the copy server in its DR site is of the
replicated volume type (``dr_replicated_volume_type``), the type the operators configured to
replicate synchronously. The outcome is the copy server's row in ``dr_replication_check``
(ok, or what is not replicated); the posture reads it. The cycles still run: their recovery
points are what drills restore and what protects against a write replicated faithfully —
a deletion, a corruption.
"""

from __future__ import annotations

from govcloud.cloud import dr_volumes as cinder
from govcloud.domain.protection import ReplicationCheck
from govcloud.errors import GovCloudError
from govcloud.services.dr_posture import CopyServer
from govcloud.services.protection_cycle import CycleDeps, Progress, project_conn
from govcloud.store.dr_systems_repo import CheckRecord, put_check
from govcloud.store.engine import write_begin

MAX_NAMED = 3


def unreplicated(volumes: list[cinder.AttachedVolume], wanted: str) -> list[str]:
    """The volumes not of the ``wanted`` type, in words."""
    return [f"{v.volume_id} ({v.device or 'no device'}) is of type "
            f"{v.volume_type or 'none'!r}" for v in volumes if v.volume_type != wanted]


def _verdict(deps: CycleDeps, copy: CopyServer) -> tuple[bool, str]:
    wanted = deps.settings.dr_replicated_volume_type
    where = f"{copy.site}/{copy.name}"
    try:
        conn, _ = project_conn(deps, copy.site, copy.department)
        volumes = cinder.attached_volumes(conn, copy.site, copy.server_id)
    except GovCloudError as exc:
        return False, f"{where}: not checked: {exc.message}"
    if not volumes:
        return False, (f"{where} has no volume attached: synchronous replication is of "
                       f"Cinder volumes of type {wanted!r}")
    bad = unreplicated(volumes, wanted)
    if bad:
        more = f"; and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
        return False, (f"{where}: volume {'; '.join(bad[:MAX_NAMED])}{more}, not the "
                       f"replicated type {wanted!r}")
    return True, f"{where}: {len(volumes)} volumes of the replicated type {wanted}"


def run_replication_check(deps: CycleDeps, copy: CopyServer, *,
                          progress: Progress | None = None) -> ReplicationCheck:
    """Check that ``copy``'s volumes in its DR site are of the replicated type, and record
    the outcome (the posture's RPO 0 by replication, or the reason it is not)."""
    at = deps.clock()
    ok, detail = _verdict(deps, copy)
    with write_begin(deps.engine) as conn:
        put_check(conn, CheckRecord(copy.site, copy.server_id, copy.department, copy.system,
                                    at, ok, detail))
    if progress is not None:
        progress(detail if ok else f"not replicated synchronously: {detail}")
    return ReplicationCheck(copy.site, ok, at, detail)


__all__ = ["run_replication_check", "unreplicated"]
