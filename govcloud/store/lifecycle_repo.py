"""Lifecycle requests (scale, resize, retire) in the store: the system as it stands, its
open requests, the member rows a scale-in or a retirement marks deleted, a retirement's
snapshots, the inventory rows of deleted servers, and the protection records retired with a
system. Tables: ``tables_provisioning`` (requests and their servers; revision
0021_lifecycle adds the request's kind, change, phase, ``not_before`` and plan, and
``lifecycle_snapshot``). The functions take the caller's session or connection (a unit of
work of ``ProvisioningStore``), so a state change and its audit entry commit together.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from govcloud.domain.inventory import QuotaInfo
from govcloud.domain.lifecycle import GONE, RequestKind
from govcloud.domain.provisioning import RequestState
from govcloud.store import inventory as inv
from govcloud.store.inventory import table
from govcloud.store.tables_provisioning import LifecycleSnapshotRow, ProvisionRequestRow

_OPEN = (RequestState.SUBMITTED.value, RequestState.APPROVED.value,
         RequestState.PROVISIONING.value)


def system_request(session: Session, department: str, system: str) -> ProvisionRequestRow | None:
    """The system's provisioning request now (the newest of kind provision that is not
    rejected, cancelled, failed or retired)."""
    req = ProvisionRequestRow
    return session.exec(
        sm_select(req).where(req.department == department, req.system == system,
                             req.kind == RequestKind.PROVISION.value,
                             col(req.state).in_((*_OPEN, RequestState.DONE.value)))
        .order_by(col(req.id).desc()).limit(1)).first()


def requests_since(session: Session, department: str, system: str,
                   since_id: int) -> list[ProvisionRequestRow]:
    """Every request of the system from its provisioning request ``since_id`` on, oldest
    first (a retired system's older requests are not this system's)."""
    req = ProvisionRequestRow
    return list(session.exec(
        sm_select(req).where(req.department == department, req.system == system,
                             col(req.id) >= since_id).order_by(col(req.id))))


def open_lifecycle(rows: Sequence[ProvisionRequestRow]) -> list[ProvisionRequestRow]:
    """The lifecycle requests of ``rows`` not final yet (submitted, approved, running)."""
    return [r for r in rows if r.kind != RequestKind.PROVISION.value and r.state in _OPEN]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member as stored: the row of the request that made it and what the inventory last
    saw of it (None: not synced)."""

    request_id: int
    site: str
    ordinal: int
    name: str
    key: str
    server_id: str
    flavor: str | None
    status: str | None
    host: str | None


def member_rows(conn: Connection, request_ids: Sequence[int]) -> list[MemberRow]:
    """The servers ``request_ids`` (done requests of kind provision or scale) made that are
    still the system's — neither deleted nor failed — with what the inventory knows of them
    (a server the inventory saw gone is not a member any more)."""
    if not request_ids:
        return []
    srv, s = table("provision_server"), table("server")
    query = (select(srv.c.request_id, srv.c.site, srv.c.ordinal, srv.c.name, srv.c.key,
                    srv.c.server_id, s.c.flavor_name, s.c.status, s.c.host, s.c.deleted_at)
             .select_from(srv.outerjoin(s, and_(s.c.site == srv.c.site,
                                                s.c.id == srv.c.server_id)))
             .where(srv.c.request_id.in_(list(request_ids)), srv.c.server_id.is_not(None),
                    srv.c.status.not_in(sorted(GONE)))
             .order_by(srv.c.site, srv.c.request_id, srv.c.ordinal))
    return [MemberRow(int(r.request_id), r.site, int(r.ordinal), r.name, r.key, r.server_id,
                      r.flavor_name, r.status, r.host)
            for r in conn.execute(query) if r.deleted_at is None]


def hosts_of(conn: Connection, site: str, server_ids: Sequence[str]) -> dict[str, str]:
    """The hosts the inventory shows ``server_ids`` of ``site`` on (those on none: left
    out)."""
    if not server_ids:
        return {}
    s = table("server")
    return {r.id: r.host for r in conn.execute(
        select(s.c.id, s.c.host).where(s.c.site == site, s.c.id.in_(list(server_ids)),
                                       s.c.deleted_at.is_(None), s.c.host.is_not(None)))}


def mark_deleted(session: Session, request_ids: Sequence[int], site: str,
                 server_ids: Sequence[str], at: dt.datetime) -> int:
    """Mark the member rows of ``server_ids`` in ``site`` (made by ``request_ids``) deleted:
    they are no longer the system's. How many rows changed."""
    if not server_ids or not request_ids:
        return 0
    srv = table("provision_server")
    result = session.connection().execute(
        update(srv).where(srv.c.request_id.in_(list(request_ids)), srv.c.site == site,
                          srv.c.server_id.in_(list(server_ids)),
                          srv.c.status.not_in(sorted(GONE)))
        .values(status="deleted", updated_at=at))
    return int(result.rowcount or 0)


def retire_requests(session: Session, department: str, system: str, since_id: int,
                    at: dt.datetime) -> list[int]:
    """Move the system's done requests (from ``since_id``; not the retirement itself)
    to retired; their ids."""
    req = ProvisionRequestRow
    rows = list(session.exec(
        sm_select(req).where(req.department == department, req.system == system,
                             col(req.id) >= since_id, req.state == RequestState.DONE.value,
                             req.kind != RequestKind.RETIRE.value).with_for_update()))
    for row in rows:
        row.state = RequestState.RETIRED.value
        row.updated_at = at
        session.add(row)
    return [r.id or 0 for r in rows]


def latest_shape(rows: Sequence[ProvisionRequestRow]) -> dict[str, Any] | None:
    """The system's shape as its newest done scale left it (None: as provisioned)."""
    for row in reversed(rows):
        if row.kind == RequestKind.SCALE.value and row.state == RequestState.DONE.value \
                and row.plan_json:
            shape: dict[str, Any] = json.loads(row.plan_json)["shape"]
            return shape
    return None


# --- a retirement's final snapshots -------------------------------------------------------------

def snapshots(session: Session, request_id: int) -> list[LifecycleSnapshotRow]:
    return list(session.exec(sm_select(LifecycleSnapshotRow).where(
        LifecycleSnapshotRow.request_id == request_id).order_by(col(LifecycleSnapshotRow.id))))


def add_snapshot(session: Session, row: LifecycleSnapshotRow) -> None:
    session.add(row)


# --- the inventory of servers a lifecycle request deleted -------------------------------------

def forget_servers(conn: Connection, site: str, server_ids: Sequence[str], at: dt.datetime,
                   quotas: Sequence[QuotaInfo], *, project: str, department: str) -> None:
    """Tombstone ``server_ids`` in the inventory (they are gone) and write the project's quota
    usage as the cloud now reports it: the capacity and quota they held are free for the next
    approval at once, without waiting for a sync."""
    inv.tombstone(conn, site, list(server_ids), at)
    inv.upsert(conn, table("quota_usage"), inv.quota_rows(site, quotas, {project: department}),
               ("site", "project_id", "resource"))


# --- protection retired with the system --------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HeldArtifact:
    """A cloud artifact a recovery point of the system holds (a backup, a volume snapshot)."""

    site: str
    kind: str
    id: str


def protection_artifacts(conn: Connection, department: str, system: str) -> list[HeldArtifact]:
    """The backups and volume snapshots the system's recovery points hold in the DR sites
    (images go with their shelved server, volumes and guests are the copies themselves)."""
    pts = table("recovery_point")
    out: dict[tuple[str, str, str], HeldArtifact] = {}
    for (text,) in conn.execute(select(pts.c.artifacts).where(
            pts.c.department == department, pts.c.system == system,
            pts.c.artifacts.is_not(None))):
        for a in json.loads(text or "[]"):
            if isinstance(a, dict) and a.get("kind") in ("backup", "volume-snapshot"):
                item = HeldArtifact(str(a.get("site")), str(a["kind"]), str(a.get("id")))
                out[(item.site, item.kind, item.id)] = item
    return sorted(out.values(), key=lambda a: (a.site, a.kind, a.id))


def forget_protection(conn: Connection, department: str, system: str) -> int:
    """Delete the system's recovery points (the latest ones too): its protection ends with
    it. How many points went."""
    pts, latest = table("recovery_point"), table("recovery_point_latest")
    conn.execute(delete(latest).where(latest.c.department == department,
                                      latest.c.system == system))
    result = conn.execute(delete(pts).where(pts.c.department == department,
                                            pts.c.system == system))
    return int(result.rowcount or 0)


