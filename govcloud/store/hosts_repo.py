"""Host maintenance: its SQL (tables in ``tables_hosts``) — drains with their servers and
events, and the hosts in maintenance that capacity leaves out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from govcloud.errors import NotFound
from govcloud.store.audit import lock_for_write
from govcloud.store.inventory import table
from govcloud.store.tables_hosts import (
    HostDrainEventRow,
    HostDrainRow,
    HostDrainServerRow,
    HostMaintenanceRow,
)

MAX_LIST = 500
MAX_EVENTS = 1000
UNFINISHED = ("running", "interrupted")
_PG_DRAIN_LOCK = 0x60C1D4A1  # arbitrary, fixed: drains are opened one at a time


def lock_drains(session: Session) -> None:
    """Hold the drains' write lock until the transaction ends, so two drains opened at once
    see each other (PostgreSQL: an advisory lock; SQLite: the session's BEGIN IMMEDIATE)."""
    lock_for_write(session, _PG_DRAIN_LOCK)


# --- drains ----------------------------------------------------------------------------------

def add_drain(session: Session, row: HostDrainRow) -> int:
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def find_drain(session: Session, drain_id: int) -> HostDrainRow | None:
    return session.get(HostDrainRow, drain_id)


def get_drain(session: Session, drain_id: int) -> HostDrainRow:
    row = session.get(HostDrainRow, drain_id)
    if row is None:
        raise NotFound(f"no drain {drain_id}", hint="`govcloud host list` shows each host's "
                                                    "last drain")
    return row


def unfinished(session: Session, site: str, host: str) -> HostDrainRow | None:
    """The drain of this host that has not finished (running, or interrupted), if any."""
    return session.exec(select(HostDrainRow).where(
        HostDrainRow.site == site, HostDrainRow.host == host,
        col(HostDrainRow.state).in_(UNFINISHED)).order_by(
        col(HostDrainRow.id).desc())).first()


def unfinished_in_site(session: Session, site: str) -> list[HostDrainRow]:
    return list(session.exec(select(HostDrainRow).where(
        HostDrainRow.site == site, col(HostDrainRow.state).in_(UNFINISHED))).all())


def drains(session: Session, *, site: str | None = None, host: str | None = None,
           limit: int = 100) -> list[HostDrainRow]:
    """Drains, newest first (of ``site``, of ``host`` when given)."""
    query = select(HostDrainRow).order_by(col(HostDrainRow.id).desc()) \
        .limit(max(1, min(limit, MAX_LIST)))
    if site is not None:
        query = query.where(HostDrainRow.site == site)
    if host is not None:
        query = query.where(HostDrainRow.host == host)
    return list(session.exec(query).all())


def last_drains(session: Session, sites: Sequence[str]) -> dict[tuple[str, str], HostDrainRow]:
    """(site, host) → the newest drain of that host."""
    out: dict[tuple[str, str], HostDrainRow] = {}
    query = select(HostDrainRow).where(col(HostDrainRow.site).in_(list(sites))) \
        .order_by(col(HostDrainRow.id))
    for row in session.exec(query).all():
        out[(row.site, row.host)] = row
    return out


# --- a drain's servers -----------------------------------------------------------------------

def servers(session: Session, drain_id: int) -> list[HostDrainServerRow]:
    return list(session.exec(select(HostDrainServerRow)
                             .where(HostDrainServerRow.drain_id == drain_id)
                             .order_by(col(HostDrainServerRow.ordinal),
                                       col(HostDrainServerRow.server_id))).all())


def add_servers(session: Session, drain_id: int, rows: Iterable[HostDrainServerRow]) -> int:
    """Add the servers the drain does not know yet; how many were new."""
    known = {r.server_id for r in servers(session, drain_id)}
    added = 0
    for row in rows:
        if row.server_id not in known:
            row.drain_id = drain_id
            row.ordinal = len(known) + added
            session.add(row)
            added += 1
    return added


def set_server(session: Session, drain_id: int, server_id: str, *, status: str, at: datetime,
               kind: str | None = None, target: str | None = None,
               reason: str | None = None) -> None:
    row = session.get(HostDrainServerRow, (drain_id, server_id))
    if row is None:
        raise NotFound(f"drain {drain_id} has no server {server_id}")
    row.status, row.updated_at = status, at
    if kind is not None:
        row.kind = kind
    if target is not None:
        row.target = target
    row.reason = reason[:2000] if reason is not None else None
    session.add(row)


# --- events ----------------------------------------------------------------------------------

def add_event(session: Session, drain_id: int, kind: str, message: str, *,
              at: datetime) -> None:
    session.add(HostDrainEventRow(drain_id=drain_id, at=at, kind=kind[:32],
                                  message=message[:4000]))


def events(session: Session, drain_id: int, *, after: int = 0,
           limit: int = MAX_EVENTS) -> list[HostDrainEventRow]:
    return list(session.exec(select(HostDrainEventRow).where(
        HostDrainEventRow.drain_id == drain_id, col(HostDrainEventRow.id) > after)
        .order_by(col(HostDrainEventRow.id)).limit(limit)).all())


# --- hosts in maintenance --------------------------------------------------------------------

def find_mark(session: Session, site: str, host: str) -> HostMaintenanceRow | None:
    return session.get(HostMaintenanceRow, (site, host))


def mark(session: Session, *, site: str, host: str, hypervisor: str | None,
         drain_id: int | None, by: str, at: datetime) -> HostMaintenanceRow:
    """Put the host in maintenance (kept as it is when it already is)."""
    row = session.get(HostMaintenanceRow, (site, host))
    if row is None:
        row = HostMaintenanceRow(site=site, host=host, hypervisor=hypervisor,
                                 drain_id=drain_id, since=at, marked_by=by)
    else:
        row.drain_id = drain_id if drain_id is not None else row.drain_id
        row.hypervisor = hypervisor or row.hypervisor
    session.add(row)
    return row


def clear(session: Session, site: str, host: str) -> HostMaintenanceRow | None:
    """Take the host out of maintenance; the mark it had (None: it was not in)."""
    row = session.get(HostMaintenanceRow, (site, host))
    if row is not None:
        session.delete(row)
    return row


def marks(session: Session, site: str | None = None) -> list[HostMaintenanceRow]:
    query = select(HostMaintenanceRow).order_by(col(HostMaintenanceRow.site),
                                                col(HostMaintenanceRow.host))
    if site is not None:
        query = query.where(HostMaintenanceRow.site == site)
    return list(session.exec(query).all())


def maintenance_names(conn: Connection) -> dict[str, frozenset[str]]:
    """site → the names of its hosts in maintenance: service hosts and hypervisors both (a
    host's hypervisor may be named otherwise than its compute service's host)."""
    tbl = HostMaintenanceRow.__table__  # type: ignore[attr-defined]
    out: dict[str, set[str]] = {}
    for r in conn.execute(sa_select(tbl.c.site, tbl.c.host, tbl.c.hypervisor)):
        names = out.setdefault(r.site, set())
        names.add(r.host)
        if r.hypervisor:
            names.add(r.hypervisor)
    return {site: frozenset(names) for site, names in out.items()}


# --- departments of projects -----------------------------------------------------------------

def departments_of(conn: Connection, site: str, project_ids: Iterable[str]) -> dict[str, str]:
    """project id → department code in ``site`` (projects mapped to none are left out)."""
    ids = sorted(set(project_ids))
    if not ids:
        return {}
    tbl = table("department_site")
    q = sa_select(tbl.c.project_id, tbl.c.department).where(
        and_(tbl.c.site == site, tbl.c.project_id.in_(ids)))
    return {r.project_id: r.department for r in conn.execute(q)}
