"""Recovery points and drill summaries: their SQL (tables in ``tables_protection``).

Every cycle's outcome is kept in ``recovery_point``; ``recovery_point_latest`` holds, per copy
server, the newest ``ok`` one. Only an ``ok`` point moves it, and only forward in time, so a
failed or partial cycle — or a late write of an older point — never replaces the last good
point, and the posture reads the latest point of every copy in one indexed query however long
the history grows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from govcloud.domain.provisioning import RequestState
from govcloud.domain.recovery import (
    Artifact,
    ArtifactKind,
    DrillRecord,
    DrillResult,
    PointKind,
    PointRecord,
    PointStatus,
)
from govcloud.store.inventory import aware, table
from govcloud.store.tables_protection import (  # noqa: F401  (registers the tables)
    DrillRecordRow,
    RecoveryPointLatestRow,
    RecoveryPointRow,
)

MAX_HISTORY = 1000


def add_recovery_point(conn: Connection, point: PointRecord) -> int:
    """Record one cycle's outcome; an ``ok`` point newer than its server's latest becomes the
    latest. Returns the point's id."""
    tbl = table("recovery_point")
    point_id = int(conn.execute(insert(tbl).values(
        department=point.department, system=point.system, site=point.site,
        server_id=point.server_id, taken_at=point.taken_at, kind=point.kind.value,
        size_bytes=point.size_bytes, manifest_digest=point.manifest_digest,
        status=point.status.value, error=point.error,
        artifacts=json.dumps([a.as_json() for a in point.artifacts]) if point.artifacts
        else None,
        manifest=json.dumps([list(e) for e in point.manifest], ensure_ascii=False)
        if point.manifest else None).returning(tbl.c.id)).scalar_one())
    if point.status is PointStatus.OK:
        latest = table("recovery_point_latest")
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(latest).values(
            site=point.site, server_id=point.server_id, department=point.department,
            system=point.system, point_id=point_id, taken_at=point.taken_at)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["site", "server_id"],
            set_={c: stmt.excluded[c] for c in ("department", "system", "point_id",
                                                "taken_at")},
            where=latest.c.taken_at < stmt.excluded.taken_at))
    return point_id


def set_artifacts(conn: Connection, point_id: int, artifacts: Sequence[Artifact]) -> None:
    """Where a point's data is held, changed: a cold copy shelved again outside a cycle holds
    the same data in the image Nova made of it then (``services.cold_copy_points``)."""
    tbl = table("recovery_point")
    conn.execute(update(tbl).where(tbl.c.id == point_id).values(
        artifacts=json.dumps([a.as_json() for a in artifacts]) if artifacts else None))


def _artifacts(text: str | None) -> tuple[Artifact, ...]:
    return tuple(Artifact(ArtifactKind(a["kind"]), a["site"], a["id"])
                 for a in json.loads(text)) if text else ()


def _point(r: Any, manifest: str | None = None) -> PointRecord:
    return PointRecord(r.department, r.system, r.site, r.server_id,
                       aware(r.taken_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                       PointKind(r.kind), int(r.size_bytes), r.manifest_digest,
                       PointStatus(r.status), r.error, int(r.id),
                       _artifacts(r.artifacts),
                       tuple((str(p), str(c)) for p, c in json.loads(manifest))
                       if manifest else ())


def _without_manifest(pts: Any) -> list[Any]:
    return [c for c in pts.c if c.name != "manifest"]


def recovery_point(conn: Connection, point_id: int) -> PointRecord | None:
    """One recovery point with its checksum manifest (None: no such point)."""
    pts = table("recovery_point")
    row = conn.execute(select(pts).where(pts.c.id == point_id)).first()
    return None if row is None else _point(row, row.manifest)


def latest_recovery_points(conn: Connection, *, departments: Sequence[str] | None = None,
                           before: dt.datetime | None = None) -> list[PointRecord]:
    """The latest ``ok`` point of every copy server (of ``departments``; None: all), one
    query over the latest table joined to the points; ``before``: the latest taken before
    then, from the points kept (those the protection's retention has not pruned)."""
    if before is not None:
        return _ok_points_before(conn, before, departments)
    pts, latest = table("recovery_point"), table("recovery_point_latest")
    query = (select(*_without_manifest(pts)).join(latest, latest.c.point_id == pts.c.id)
             .order_by(latest.c.department, latest.c.system, latest.c.site,
                       latest.c.server_id))
    if departments is not None:
        query = query.where(latest.c.department.in_(list(departments)))
    return [_point(r) for r in conn.execute(query).all()]


def _ok_points_before(conn: Connection, before: dt.datetime,
                      departments: Sequence[str] | None) -> list[PointRecord]:
    pts = table("recovery_point")
    ok = and_(pts.c.status == PointStatus.OK.value, pts.c.taken_at < before)
    newest = select(pts.c.site, pts.c.server_id, func.max(pts.c.taken_at).label("at")) \
        .where(ok).group_by(pts.c.site, pts.c.server_id)
    if departments is not None:
        newest = newest.where(pts.c.department.in_(list(departments)))
    sub = newest.subquery()
    query = (select(*_without_manifest(pts))
             .join(sub, and_(pts.c.site == sub.c.site, pts.c.server_id == sub.c.server_id,
                             pts.c.taken_at == sub.c.at))
             .where(pts.c.status == PointStatus.OK.value).order_by(pts.c.id))
    found: dict[tuple[str, str], PointRecord] = {}
    for r in conn.execute(query).all():  # of two at the same moment, the later recorded
        found[(r.site, r.server_id)] = _point(r)
    return list(found.values())


def recovery_points(conn: Connection, site: str, server_id: str, *,
                    limit: int = 100) -> list[PointRecord]:
    """One copy server's cycles, newest first (every status), at most ``limit``; without
    their manifests (``recovery_point`` reads one whole)."""
    pts = table("recovery_point")
    query = (select(*_without_manifest(pts))
             .where(and_(pts.c.site == site, pts.c.server_id == server_id))
             .order_by(pts.c.taken_at.desc(), pts.c.id.desc())
             .limit(max(1, min(limit, MAX_HISTORY))))
    return [_point(r) for r in conn.execute(query).all()]


@dataclass(frozen=True, slots=True)
class CycleState:
    """One copy server's cycles as the protection schedule reads them: its last cycle (any
    status), its last good one, and the failed or partial cycles since that."""

    site: str
    server_id: str
    department: str
    system: str
    last_at: dt.datetime
    last_ok_at: dt.datetime | None
    failures: int


def cycle_states(conn: Connection, *,
                 departments: Sequence[str] | None = None) -> list[CycleState]:
    """Every copy server that had a cycle (of ``departments``; None: all), one grouped
    query over the points joined to the latest table."""
    pts, latest = table("recovery_point"), table("recovery_point_latest")
    after_ok = and_(pts.c.status != PointStatus.OK.value,
                    or_(latest.c.taken_at.is_(None), pts.c.taken_at > latest.c.taken_at))
    query = (select(pts.c.site, pts.c.server_id, func.max(pts.c.department).label("dept"),
                    func.max(pts.c.system).label("sys"),
                    func.max(pts.c.taken_at).label("last_at"),
                    latest.c.taken_at.label("ok_at"),
                    func.sum(case((after_ok, 1), else_=0)).label("failures"))
             .select_from(pts.outerjoin(latest, and_(latest.c.site == pts.c.site,
                                                     latest.c.server_id == pts.c.server_id)))
             .group_by(pts.c.site, pts.c.server_id, latest.c.taken_at)
             .order_by(pts.c.site, pts.c.server_id))
    if departments is not None:
        query = query.where(pts.c.department.in_(list(departments)))
    return [CycleState(r.site, r.server_id, r.dept, r.sys,
                       aware(r.last_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                       aware(r.ok_at), int(r.failures or 0))
            for r in conn.execute(query).all()]


def latest_point_id(conn: Connection, site: str, server_id: str) -> int | None:
    """The id of the copy server's latest good point (None: it has none)."""
    latest = table("recovery_point_latest")
    found = conn.execute(select(latest.c.point_id).where(and_(
        latest.c.site == site, latest.c.server_id == server_id))).scalar_one_or_none()
    return None if found is None else int(found)


def delete_recovery_points(conn: Connection, point_ids: Sequence[int]) -> int:
    """Delete these points of the history — never one a copy server's latest good point is
    (those are left, whatever the caller asked); how many were deleted."""
    if not point_ids:
        return 0
    pts, latest = table("recovery_point"), table("recovery_point_latest")
    result = conn.execute(delete(pts).where(and_(
        pts.c.id.in_(list(point_ids)),
        pts.c.id.not_in(select(latest.c.point_id)))))
    return int(result.rowcount or 0)


def add_drill(conn: Connection, drill: DrillRecord) -> int:
    tbl = table("dr_drill")
    return int(conn.execute(insert(tbl).values(
        department=drill.department, system=drill.system, site=drill.site, at=drill.at,
        result=drill.result.value,
        rto_s=drill.rto.total_seconds() if drill.rto is not None else None)
        .returning(tbl.c.id)).scalar_one())


def _drill(r: Any) -> DrillRecord:
    return DrillRecord(r.department, r.system, r.site,
                       aware(r.at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                       DrillResult(r.result),
                       dt.timedelta(seconds=r.rto_s) if r.rto_s is not None else None,
                       int(r.id))


def last_drills(conn: Connection, *, departments: Sequence[str] | None = None,
                before: dt.datetime | None = None) -> dict[tuple[str, str], DrillRecord]:
    """The last drill of every drilled system (of ``departments``; None: all; ``before``:
    held before then), by (department, system); of two drills started at the same moment
    the later recorded."""
    tbl = table("dr_drill")
    newest = select(tbl.c.department, tbl.c.system, func.max(tbl.c.at).label("at")) \
        .group_by(tbl.c.department, tbl.c.system)
    if before is not None:
        newest = newest.where(tbl.c.at < before)
    if departments is not None:
        newest = newest.where(tbl.c.department.in_(list(departments)))
    sub = newest.subquery()
    query = (select(tbl).join(sub, and_(tbl.c.department == sub.c.department,
                                        tbl.c.system == sub.c.system, tbl.c.at == sub.c.at))
             .order_by(tbl.c.id))
    return {(d.department, d.system): d for d in map(_drill, conn.execute(query).all())}


def drills(conn: Connection, department: str, system: str, *,
           limit: int = 100) -> list[DrillRecord]:
    """One system's drills, newest first."""
    tbl = table("dr_drill")
    query = (select(tbl).where(and_(tbl.c.department == department, tbl.c.system == system))
             .order_by(tbl.c.at.desc(), tbl.c.id.desc()).limit(max(1, min(limit, MAX_HISTORY))))
    return [_drill(r) for r in conn.execute(query).all()]



# --- what the posture reads besides: the systems provisioning built, the sites' servers -------

LIVE_STATES = (RequestState.DONE.value, RequestState.PROVISIONING.value)


@dataclass(frozen=True, slots=True)
class SystemRequest:
    """A request that built (or is building) a system, as the posture needs it."""

    department: str
    system: str
    dr_level: int
    spec_json: str
    placement_json: str | None
    created_at: dt.datetime
    reshapes: bool = False  # a scale: ``spec_json`` is the system's whole shape after it


def system_requests(conn: Connection, *, departments: Sequence[str] | None = None,
                    before: dt.datetime | None = None) -> list[SystemRequest]:
    """The requests that built a system and are done or provisioning (of ``departments``;
    None: all), oldest first: its provisioning request and its scales (whose spec is the
    system's shape after them, docs/lifecycle.md). A system being retired is left out (its
    protection ends when its retirement starts); one provisioned anew under the name of a
    retired one is another system. ``before``: only the requests submitted before then (a
    system retired later counts as it stood)."""
    req = table("provision_request")
    query = (select(req.c.id, req.c.kind, req.c.department, req.c.system, req.c.dr_level,
                    req.c.spec_json, req.c.placement_json, req.c.plan_json, req.c.created_at)
             .where(req.c.state.in_(LIVE_STATES),
                    req.c.kind.in_(("provision", "scale", "retire")))
             .order_by(req.c.id))
    if departments is not None:
        query = query.where(req.c.department.in_(list(departments)))
    if before is not None:
        query = query.where(req.c.created_at < before)
    rows = conn.execute(query).all()
    gone: dict[tuple[str, str], int] = {}  # the newest retirement of each system
    for r in rows:
        if r.kind == "retire":
            gone[(r.department, r.system)] = max(r.id, gone.get((r.department, r.system), 0))
    out = []
    for r in rows:
        if r.kind == "retire" or r.id < gone.get((r.department, r.system), 0):
            continue  # retired (or being retired); a system of the name made since is new
        scale = r.kind == "scale"
        spec = json.dumps(json.loads(r.plan_json or "{}").get("shape", {})) if scale \
            else r.spec_json
        out.append(SystemRequest(r.department, r.system, int(r.dr_level), spec,
                                 r.placement_json,
                                 aware(r.created_at) or dt.datetime.min.replace(tzinfo=dt.UTC),
                                 reshapes=scale))
    return out


@dataclass(frozen=True, slots=True)
class SiteServer:
    site: str
    id: str
    department: str
    name: str
    status: str
    flavor: str | None


def site_servers(conn: Connection, sites: Sequence[str], *,
                 departments: Sequence[str] | None = None) -> list[SiteServer]:
    """The servers of ``sites`` that are not gone and belong to a department (of
    ``departments``; None: any), as the last sync saw them."""
    srv = table("server")
    query = (select(srv.c.site, srv.c.id, srv.c.department, srv.c.name, srv.c.status,
                    srv.c.flavor_name)
             .where(and_(srv.c.deleted_at.is_(None), srv.c.site.in_(list(sites)),
                         srv.c.department.is_not(None))))
    if departments is not None:
        query = query.where(srv.c.department.in_(list(departments)))
    return [SiteServer(r.site, r.id, r.department, r.name, r.status, r.flavor_name)
            for r in conn.execute(query).all()]


# --- the scorecard's reads -----------------------------------------------------------------------

def point_outcomes(conn: Connection, start: dt.datetime, end: dt.datetime
                   ) -> list[tuple[str, str, str, dt.datetime, bool]]:
    """Every cycle outcome from ``start`` to ``end`` — (department, site, server, taken at,
    ok) — and each copy server's last one before ``start`` (so a run of failures that began
    earlier is known to have)."""
    tbl = table("recovery_point")
    cols = (tbl.c.department, tbl.c.site, tbl.c.server_id, tbl.c.taken_at, tbl.c.status)
    last = (select(tbl.c.site, tbl.c.server_id, func.max(tbl.c.taken_at).label("at"))
            .where(tbl.c.taken_at < start).group_by(tbl.c.site, tbl.c.server_id).subquery())
    before = select(*cols).join(last, and_(tbl.c.site == last.c.site,
                                           tbl.c.server_id == last.c.server_id,
                                           tbl.c.taken_at == last.c.at))
    within = select(*cols).where(and_(tbl.c.taken_at >= start, tbl.c.taken_at < end))
    return [(r.department, r.site, r.server_id, aware(r.taken_at) or start,
             r.status == PointStatus.OK.value)
            for query in (before, within) for r in conn.execute(query)]


def failed_drills(conn: Connection, start: dt.datetime,
                  end: dt.datetime) -> list[tuple[str, dt.datetime]]:
    """Each drill that failed from ``start`` to ``end``: its department and when."""
    tbl = table("dr_drill")
    return [(r.department, aware(r.at) or start) for r in conn.execute(
        select(tbl.c.department, tbl.c.at).where(and_(
            tbl.c.result == DrillResult.FAILED.value, tbl.c.at >= start, tbl.c.at < end))
        .order_by(tbl.c.department, tbl.c.at))]
