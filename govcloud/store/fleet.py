"""Read queries of the stored snapshot that the console's views need: compute services, the
servers on one host, one server, quota usage and activity per department. Read only; the
sync writes these tables (``govcloud.store.inventory``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from govcloud.store.inventory import table


def _scope(srv: Any, departments: Sequence[str] | None, include_unmapped: bool) -> list[Any]:
    if departments is None:
        return [] if include_unmapped else [srv.c.department.is_not(None)]
    scope = srv.c.department.in_(list(departments))
    return [or_(scope, srv.c.department.is_(None)) if include_unmapped else scope]


def services_down(conn: Connection) -> dict[str, int]:
    """site → how many compute services are down (state down, or forced down)."""
    svc = table("compute_service")
    q = (select(svc.c.site, func.count().label("n"))
         .where(or_(svc.c.state != "up", svc.c.forced_down.is_(True)))
         .group_by(svc.c.site))
    return {r.site: int(r.n) for r in conn.execute(q)}


def servers_on_host(conn: Connection, *, site: str, host: str) -> list[dict[str, Any]]:
    """The live servers on one host, ordered by name."""
    srv = table("server")
    q = (select(srv).where(and_(srv.c.site == site, srv.c.host == host,
                                srv.c.deleted_at.is_(None)))
         .order_by(srv.c.name, srv.c.id))
    return [dict(r._mapping) for r in conn.execute(q)]


def server(conn: Connection, *, site: str, server_id: str) -> dict[str, Any] | None:
    srv = table("server")
    row = conn.execute(select(srv).where(and_(srv.c.site == site, srv.c.id == server_id,
                                              srv.c.deleted_at.is_(None)))).first()
    return dict(row._mapping) if row is not None else None


def quota_usage(conn: Connection, *, departments: Sequence[str] | None
                ) -> list[dict[str, Any]]:
    """Every stored (department, site, resource, limit, in_use) within ``departments``."""
    q = table("quota_usage")
    conds: list[Any] = [q.c.department.is_not(None)]
    if departments is not None:
        conds.append(q.c.department.in_(list(departments)))
    stmt = select(q.c.department, q.c.site, q.c.resource, q.c.limit, q.c.in_use).where(
        and_(*conds))
    return [dict(r._mapping) for r in conn.execute(stmt)]


def department_activity(conn: Connection, *, departments: Sequence[str] | None
                        ) -> list[dict[str, Any]]:
    """Per (department, site): live servers and the newest change of one of them."""
    srv = table("server")
    conds = [srv.c.deleted_at.is_(None), srv.c.department.is_not(None),
             *_scope(srv, departments, False)]
    q = (select(srv.c.department, srv.c.site, func.count().label("servers"),
                func.max(srv.c.updated).label("last_change"))
         .where(and_(*conds)).group_by(srv.c.department, srv.c.site))
    return [dict(r._mapping) for r in conn.execute(q)]
