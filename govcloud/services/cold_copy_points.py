"""A cold copy shelved again outside a protection cycle keeps a usable recovery point (issue 19;
docs/dr.md, "A cold copy shelved again").

Nova deletes a shelved server's snapshot image when it unshelves the server, and makes a new one
when it shelves it again. A protection cycle records its point with the image of its own
shelving; but a failover unshelves the copy (deleting the image its points name), and a
failback shelves it again (a new image) with no cycle of the copy. ``record_reshelved``
records the copy's point then: the new image, and the data the failback's final cycle copied
from it (the copy was frozen, so its disk holds exactly that), taken when that cycle was. A
resize of a cold copy (unshelved, resized, shelved again: the data unchanged) moves its latest
point to the new image with ``repoint_reshelved``. Older points keep naming deleted images;
a drill takes the latest point only."""

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
    volume): nothing is recorded. The point that names the image already, when there is one
    (the step run again after a crash)."""
    if basis.status is not PointStatus.OK or not basis.manifest:
        return None
    image = find_shelved_image(pconn, site, server_id, name)
    if image is None:
        return None
    with engine.connect() as conn:  # a step run again (resumed) records it once
        for p in protection_repo.recovery_points(conn, site, server_id, limit=5):
            if p.status is PointStatus.OK and any(a.id == image for a in p.artifacts):
                return p
    point = PointRecord(basis.department, basis.system, site, server_id, basis.taken_at,
                        basis.kind, basis.size_bytes, basis.manifest_digest,
                        artifacts=(Artifact(ArtifactKind.IMAGE, site, image),),
                        manifest=basis.manifest)
    with write_begin(engine) as conn:
        point_id = protection_repo.add_recovery_point(conn, point)
    return PointRecord(point.department, point.system, site, server_id, point.taken_at,
                       point.kind, point.size_bytes, point.manifest_digest, point.status,
                       None, point_id, point.artifacts, point.manifest)


def repoint_reshelved(engine: Engine, pconn: Any, site: str, server_id: str,
                      name: str) -> PointRecord | None:
    """The latest ok point of the cold copy ``server_id`` (``name`` in ``site``), just shelved
    again with its data unchanged, held in the new shelved image instead of the one Nova
    deleted. None when there is no such point, it held no image, or Nova made none."""
    with engine.connect() as conn:
        ok = next((p for p in protection_repo.recovery_points(conn, site, server_id, limit=20)
                   if p.status is PointStatus.OK and p.id is not None), None)
    held = [a for a in ok.artifacts if a.kind is ArtifactKind.IMAGE and a.site == site] \
        if ok is not None else []
    image = find_shelved_image(pconn, site, server_id, name) if held else None
    if ok is None or ok.id is None or image is None or held[0].id == image:
        return None
    artifacts = tuple(Artifact(ArtifactKind.IMAGE, site, image) if a in held else a
                      for a in ok.artifacts)
    with write_begin(engine) as conn:
        protection_repo.set_artifacts(conn, ok.id, artifacts)
    return PointRecord(ok.department, ok.system, site, server_id, ok.taken_at, ok.kind,
                       ok.size_bytes, ok.manifest_digest, ok.status, ok.error, ok.id,
                       artifacts)


__all__ = ["record_reshelved", "repoint_reshelved"]
