"""A cold copy shelved again outside a protection cycle keeps a usable recovery point (issue 19;
docs/dr.md, "A cold copy shelved again").

Nova deletes a shelved server's snapshot image when it unshelves the server, and makes a new one
when it shelves it again. A protection cycle records its point with the image of its own
shelving; but a failover unshelves the copy (deleting the image its points name), and a
failback shelves it again (a new image) with no cycle of the copy. ``record_reshelved``
records the copy's point then: the new image, and the data the failback's final cycle copied
from it (the copy was frozen, so its disk holds exactly that), taken when that cycle was."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.copy_servers import find_shelved_image
from govcloud.domain.recovery import Artifact, ArtifactKind, PointRecord, PointStatus
from govcloud.store import protection_repo
from govcloud.store.engine import write_begin


def record_reshelved(engine: Engine, pconn: Any, site: str, server_id: str, name: str,
                     basis: PointRecord) -> PointRecord | None:
    """Record the point of the cold copy ``server_id`` (server ``name`` in ``site``), just
    shelved again, whose disk holds the data of ``basis`` (an ok point with its manifest):
    its artifact the new shelved image. None when Nova made no image (a server booted from a
    volume): nothing is recorded."""
    if basis.status is not PointStatus.OK or not basis.manifest:
        return None
    image = find_shelved_image(pconn, site, server_id, name)
    if image is None:
        return None
    point = PointRecord(basis.department, basis.system, site, server_id, basis.taken_at,
                        basis.kind, basis.size_bytes, basis.manifest_digest,
                        artifacts=(Artifact(ArtifactKind.IMAGE, site, image),),
                        manifest=basis.manifest)
    with write_begin(engine) as conn:
        point_id = protection_repo.add_recovery_point(conn, point)
    return PointRecord(point.department, point.system, site, server_id, point.taken_at,
                       point.kind, point.size_bytes, point.manifest_digest, point.status,
                       None, point_id, point.artifacts, point.manifest)


__all__ = ["record_reshelved"]
