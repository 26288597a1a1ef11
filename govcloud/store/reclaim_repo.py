"""What the reclaim report reads (docs/lifecycle.md, "Reclaim"): the inventory's shut-off
servers and unattached volumes with since when, and each provisioned system's production
members (tables: ``server``, ``volume``, ``provision_request``, ``provision_server``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, select

from govcloud.domain.lifecycle import GONE, MEMBER_KINDS
from govcloud.domain.reclaim import IDLE_SERVER, LOOSE_VOLUME, IdleServer, LooseVolume
from govcloud.store.inventory import aware, table


def idle_servers(conn: Connection, departments: Sequence[str] | None) -> list[IdleServer]:
    """The shut-off servers that are not gone, of ``departments`` (None: all)."""
    s = table("server")
    query = (select(s.c.site, s.c.id, s.c.name, s.c.department, s.c.status, s.c.status_since,
                    s.c.flavor_name, s.c.vcpus, s.c.ram_mb)
             .where(s.c.status == IDLE_SERVER, s.c.deleted_at.is_(None),
                    s.c.department.is_not(None)))
    if departments is not None:
        query = query.where(s.c.department.in_(list(departments)))
    return [IdleServer(r.site, r.id, r.name, r.department, r.status, aware(r.status_since),
                       r.flavor_name, int(r.vcpus or 0), int(r.ram_mb or 0))
            for r in conn.execute(query)]


def loose_volumes(conn: Connection, departments: Sequence[str] | None) -> list[LooseVolume]:
    """The volumes attached to nothing, of ``departments`` (None: all)."""
    v = table("volume")
    query = (select(v.c.site, v.c.id, v.c.name, v.c.department, v.c.size_gb, v.c.status,
                    v.c.detached_since)
             .where(v.c.attached_to == "", v.c.status == LOOSE_VOLUME,
                    v.c.department.is_not(None)))
    if departments is not None:
        query = query.where(v.c.department.in_(list(departments)))
    return [LooseVolume(r.site, r.id, r.name, r.department, int(r.size_gb or 0), r.status,
                        aware(r.detached_since)) for r in conn.execute(query)]


def production_members(conn: Connection, site: str, departments: Sequence[str] | None
                       ) -> dict[tuple[str, str], list[str]]:
    """Each provisioned system's members in the production ``site``: (department, system)
    → server ids; a system being retired is left out."""
    req, srv = table("provision_request"), table("provision_server")
    query = (select(req.c.department, req.c.system, srv.c.server_id)
             .select_from(req.join(srv, srv.c.request_id == req.c.id))
             .where(req.c.state == "done", req.c.kind.in_(MEMBER_KINDS), srv.c.site == site,
                    srv.c.server_id.is_not(None), srv.c.status.not_in(sorted(GONE))))
    retiring = select(req.c.department, req.c.system).where(
        and_(req.c.kind == "retire", req.c.state.in_(("approved", "provisioning"))))
    if departments is not None:
        query = query.where(req.c.department.in_(list(departments)))
        retiring = retiring.where(req.c.department.in_(list(departments)))
    out: dict[tuple[str, str], list[str]] = {}
    for r in conn.execute(query):
        out.setdefault((r.department, r.system), []).append(r.server_id)
    for department, system in conn.execute(retiring):
        out.pop((department, system), None)
    return out


def retiring_servers(conn: Connection, departments: Sequence[str] | None) -> set[str]:
    """The servers of systems whose retirement is approved or under way (shut off on
    purpose: not reclaim candidates)."""
    req, srv = table("provision_request"), table("provision_server")
    retiring = select(req.c.department, req.c.system).where(
        req.c.kind == "retire", req.c.state.in_(("approved", "provisioning")))
    if departments is not None:
        retiring = retiring.where(req.c.department.in_(list(departments)))
    systems = {(r.department, r.system) for r in conn.execute(retiring)}
    if not systems:
        return set()
    query = (select(req.c.department, req.c.system, srv.c.server_id)
             .select_from(req.join(srv, srv.c.request_id == req.c.id))
             .where(req.c.kind.in_(MEMBER_KINDS), srv.c.server_id.is_not(None),
                    req.c.department.in_(sorted({d for d, _ in systems}))))
    return {r.server_id for r in conn.execute(query) if (r.department, r.system) in systems}
