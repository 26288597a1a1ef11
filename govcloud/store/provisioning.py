"""Provisioning requests, reservations, servers and events in the store: the statements.

``govcloud.store.provisioning_repo.ProvisioningStore`` is the repository the provisioning
services use (its units of work run these statements in their transactions); these functions
take the caller's session or connection. All SQL is SQLAlchemy's but the approval batch's
locking reads, whose per-dialect SQL is in one section below ("per-dialect SQL"), and
``ensure_ledger``'s ``INSERT ... ON CONFLICT DO NOTHING`` (SQLAlchemy's dialect constructs).

Reservations never over-commit: a reserving or releasing transaction runs in a session from
``write_session`` (SQLite: ``BEGIN IMMEDIATE``, so it holds the database's write lock before it
reads anything) and, on PostgreSQL, locks the request rows and then the ledger rows it touches
(``SELECT ... FOR UPDATE``, in one global order: request id; site, then department) before it
reads them, and then the audit log (its advisory lock). Two approvals can therefore never both
read the same free amount and both spend it. The ledger rows must exist before they can be
locked: ``ensure_ledger`` inserts missing ones (``ON CONFLICT DO NOTHING``) in a transaction of
its own first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from govcloud.domain.audit import ChainAnchor, Sealed
from govcloud.domain.capacity import FlavorSpec, Resources
from govcloud.domain.placement import Demand, Quota
from govcloud.errors import NotFound
from govcloud.store import inventory as inv
from govcloud.store.audit import (
    HEAD_QUERY,
    PG_AUDIT_LOCK,
    anchor_of,
    audit_insert,
    lock_for_write,
)
from govcloud.store.bulk import (
    Insert,
    Operation,
    Update,
    converted,
    converters,
    read_all,
    write_all,
)
from govcloud.store.engine import write_begin
from govcloud.store.tables import ServerRow, utcnow
from govcloud.store.tables_provisioning import (
    ProvisionEventRow,
    ProvisionRequestRow,
    ProvisionServerRow,
    ReservationLedgerRow,
    ReservationRow,
)

SITE_TOTAL = "*"  # the ledger row of a whole site (every department's reservations)


def ledger_keys(department: str, sites: Iterable[str]) -> list[tuple[str, str]]:
    """The ledger rows a request of ``department`` in ``sites`` touches, in lock order."""
    return sorted({(s, d) for s in sites for d in (SITE_TOTAL, department)})


def ensure_ledger(engine: Engine, keys: Sequence[tuple[str, str]]) -> None:
    """Insert the ledger rows ``keys`` that do not exist yet (concurrent callers are fine);
    ``ProvisioningStore`` remembers the keys it made sure of and asks only for new ones."""
    if not keys:
        return
    tbl = ReservationLedgerRow.__table__  # type: ignore[attr-defined]
    with write_begin(engine) as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(tbl).on_conflict_do_nothing(index_elements=["site", "department"])
        conn.execute(stmt, [{"site": s, "department": d, "vcpu": 0, "ram_mb": 0, "disk_gb": 0,
                             "instances": 0} for s, d in sorted(set(keys))])


def lock_request(session: Session, request_id: int) -> ProvisionRequestRow:
    row = session.exec(select(ProvisionRequestRow).where(ProvisionRequestRow.id == request_id)
                       .with_for_update()).one_or_none()
    if row is None:
        raise NotFound(f"no request {request_id}",
                       hint="`govcloud request list` shows the requests you may see")
    return row


_REQ = ProvisionRequestRow.__table__  # type: ignore[attr-defined]
_LEDGER = ReservationLedgerRow.__table__  # type: ignore[attr-defined]
_RES = ReservationRow.__table__  # type: ignore[attr-defined]
_EVENT = ProvisionEventRow.__table__  # type: ignore[attr-defined]


def held(row: Any) -> Demand:
    """What a ledger or reservation row holds."""
    return Demand(Resources(row.vcpu, row.ram_mb, row.disk_gb), row.instances)


def lock_ledger(conn: Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Demand]:
    """Lock the ledger rows ``keys`` (sorted: every writer locks in one order) and return
    what each holds."""
    keys = sorted(set(keys))
    c = _LEDGER.c
    rows = conn.execute(
        sa_select(c.site, c.department, c.vcpu, c.ram_mb, c.disk_gb, c.instances)
        .where(tuple_(c.site, c.department).in_(keys))
        .order_by(c.site, c.department).with_for_update())
    return _ledger_of(rows, keys)


def _ledger_of(rows: Iterable[Sequence[Any]], keys: Sequence[tuple[str, str]]
               ) -> dict[tuple[str, str], Demand]:
    """Ledger rows (site, department, vcpu, ram_mb, disk_gb, instances) by key; every one
    of ``keys`` must be there."""
    found = {(site, dept): Demand(Resources(vcpu, ram, disk), n)
             for site, dept, vcpu, ram, disk, n in rows}
    missing = [k for k in keys if k not in found]
    if missing:
        raise RuntimeError(f"ledger rows missing (ensure_ledger first): {missing}")
    return found


def ledger_update(amounts: Mapping[tuple[str, str], Demand]) -> Update:
    """Setting the (locked) ledger rows to ``amounts``, as a bulk operation."""
    return Update(_LEDGER, ("site", "department"), [
        {"site": site, "department": dept, "vcpu": d.resources.vcpu,
         "ram_mb": d.resources.ram_mb, "disk_gb": d.resources.disk_gb,
         "instances": d.instances} for (site, dept), d in sorted(amounts.items())])


def write_ledger(conn: Connection, amounts: Mapping[tuple[str, str], Demand]) -> None:
    """Set the (locked) ledger rows to ``amounts``."""
    write_all(conn, [ledger_update(amounts)])


def approval_writes(*, requests: Sequence[Mapping[str, Any]],
                    reservations: Sequence[Mapping[str, Any]],
                    ledger: Mapping[tuple[str, str], Demand],
                    events: Sequence[Mapping[str, Any]]) -> list[Operation]:
    """What a batch of approvals decided under the locks writes (``bulk.write_all``): the
    requests' new state, their reservations per site, the ledger rows' new amounts and the
    progress events."""
    return [Update(_REQ, ("id",), [{k: r[k] for k in _APPROVED_COLUMNS} for r in requests]),
            Insert(_RES, reservations), ledger_update(ledger), Insert(_EVENT, events)]


_APPROVED_COLUMNS = ("id", "state", "approver", "reason", "updated_at", "placement_json")


def write_approvals(conn: Connection, *, requests: Sequence[Mapping[str, Any]],
                    reservations: Sequence[Mapping[str, Any]],
                    ledger: Mapping[tuple[str, str], Demand],
                    events: Sequence[Mapping[str, Any]], sealed: Sequence[Sealed]) -> None:
    """Write what a batch of approvals decided (``approval_writes``) and its sealed audit
    entries, in bulk (``bulk.write_all``: on PostgreSQL one statement per table)."""
    if requests:
        write_all(conn, [*approval_writes(requests=requests, reservations=reservations,
                                          ledger=ledger, events=events),
                         audit_insert(sealed)])


def reservation_values(request_id: int, site: str, department: str, demand: Demand,
                       at: dt.datetime) -> dict[str, Any]:
    return {"request_id": request_id, "site": site, "department": department,
            "vcpu": demand.resources.vcpu, "ram_mb": demand.resources.ram_mb,
            "disk_gb": demand.resources.disk_gb, "instances": demand.instances,
            "created_at": at, "released_at": None}


def active_reservations(session: Session, request_id: int) -> list[ReservationRow]:
    return list(session.exec(select(ReservationRow).where(
        ReservationRow.request_id == request_id, col(ReservationRow.released_at).is_(None))))


def release(session: Session, request: ProvisionRequestRow, at: dt.datetime) -> int:
    """Release what the (locked) request holds; returns how many site reservations."""
    rows = active_reservations(session, request.id or 0)
    if not rows:
        return 0
    conn = session.connection()
    ledger = lock_ledger(conn, ledger_keys(request.department, [r.site for r in rows]))
    for r in rows:
        for key in ((r.site, SITE_TOTAL), (r.site, r.department)):
            ledger[key] = ledger[key] - held(r)
        r.released_at = at
        session.add(r)
    write_ledger(conn, ledger)
    return len(rows)


def ledger_totals(session: Session) -> dict[tuple[str, str], Demand]:
    return {(r.site, r.department): held(r) for r in session.exec(select(ReservationLedgerRow))}


def reservation_sums(session: Session) -> dict[tuple[str, str], Demand]:
    """Σ of active reservations per (site, department) and per (site, '*'): what the ledger
    must equal."""
    out: dict[tuple[str, str], Demand] = {}
    t = ReservationRow.__table__  # type: ignore[attr-defined]
    q = (sa_select(t.c.site, t.c.department, func.sum(t.c.vcpu), func.sum(t.c.ram_mb),
                   func.sum(t.c.disk_gb), func.sum(t.c.instances))
         .where(t.c.released_at.is_(None)).group_by(t.c.site, t.c.department))
    for site, dept, vcpu, ram, disk, n in session.connection().execute(q):
        d = Demand(Resources(int(vcpu), int(ram), int(disk)), int(n))
        out[(site, dept)] = out.get((site, dept), Demand()) + d
        out[(site, SITE_TOTAL)] = out.get((site, SITE_TOTAL), Demand()) + d
    return out


# --- what placement reads from the inventory snapshot --------------------------------------------

def site_flavors(session: Session, site: str, names: Iterable[str]) -> dict[str, FlavorSpec]:
    flv = inv.table("flavor")
    rows = session.connection().execute(
        sa_select(*(flv.c[name] for name in _FLAVOR_COLUMNS))
        .where(flv.c.site == site, flv.c.name.in_(sorted(set(names)))))
    return _flavors_of(rows, [site])[site]


def project_of(session: Session, department: str, site: str) -> str | None:
    tbl = inv.table("department_site")
    return session.connection().execute(sa_select(tbl.c.project_id).where(
        tbl.c.department == department, tbl.c.site == site)).scalar_one_or_none()


QUOTA_RESOURCES = ("cores", "ram", "instances", "server_groups", "server_group_members")


Projects = dict[tuple[str, str], tuple[str, dict[str, Quota]]]
FlavorsBySite = dict[str, dict[str, FlavorSpec]]


def placement_reads(conn: Connection, pairs: Iterable[tuple[str, str]], flavors: Iterable[str]
                    ) -> tuple[Projects, FlavorsBySite]:
    """What a batch of approvals reads besides the hosts, in two queries: each (department,
    site)'s project with its quotas (absent: the department has no project there), and the
    ``flavors`` known in each of those sites."""
    pairs = sorted(set(pairs))
    ds, q, flv = inv.table("department_site"), inv.table("quota_usage"), inv.table("flavor")
    quota_rows: Iterable[Sequence[Any]] = ()
    if pairs:
        quota_rows = conn.execute(  # two plain IN lists compile faster than one of pairs
            sa_select(ds.c.department, ds.c.site, ds.c.project_id, q.c.resource, q.c.limit,
                      q.c.in_use)
            .select_from(ds.outerjoin(q, and_(q.c.site == ds.c.site,
                                              q.c.project_id == ds.c.project_id,
                                              q.c.resource.in_(QUOTA_RESOURCES))))
            .where(ds.c.department.in_(sorted({d for d, _ in pairs})),
                   ds.c.site.in_(sorted({s for _, s in pairs}))))
    projects = _projects_of(quota_rows, pairs)
    sites, names = sorted({site for _, site in pairs}), sorted(set(flavors))
    flavor_rows: Iterable[Sequence[Any]] = ()
    if sites and names:
        flavor_rows = conn.execute(
            sa_select(*(flv.c[name] for name in _FLAVOR_COLUMNS))
            .where(flv.c.site.in_(sites), flv.c.name.in_(names)))
    return projects, _flavors_of(flavor_rows, sites)


def _projects_of(rows: Iterable[Sequence[Any]], pairs: Sequence[tuple[str, str]]) -> Projects:
    """(department, site, project_id, resource, limit, in_use) rows of the wanted ``pairs``
    (the query selects every department by every site) as each pair's project and quotas."""
    wanted = set(pairs)
    projects: Projects = {}
    for department, site, project_id, resource, limit, in_use in rows:  # (unpacking a row
        if (department, site) not in wanted:  # is ~20× faster than reading its attributes)
            continue
        _, quotas = projects.setdefault((department, site), (project_id, {}))
        if resource is not None:
            quotas[resource] = Quota(int(limit), int(in_use))
    return projects


_FLAVOR_COLUMNS = ("site", "name", "vcpus", "ram_mb", "disk_gb", "ephemeral_gb", "swap_mb")


def _flavors_of(rows: Iterable[Sequence[Any]], sites: Iterable[str]) -> FlavorsBySite:
    by_site: FlavorsBySite = {site: {} for site in sites}
    for site, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb in rows:
        by_site[site][name] = FlavorSpec(name=name, vcpus=vcpus, ram_mb=ram_mb,
                                         disk_gb=disk_gb, ephemeral_gb=ephemeral_gb,
                                         swap_mb=swap_mb)
    return by_site


@dataclass(frozen=True, slots=True)
class BatchReads:
    """What a batch of approvals reads under its locks, after locking its requests."""

    ledger: dict[tuple[str, str], Demand]  # the locked ledger rows
    projects: Projects
    flavors: FlavorsBySite
    states: dict[str, inv.SyncState]
    audit_head: ChainAnchor  # read under the audit log's write lock


# --- per-dialect SQL: the approval batch's locking reads ---------------------------------------
#
# The only hand-written SQL of the slice, and why: a batch of approvals locks its requests and
# then reads six things under its locks; as SQLAlchemy statements, one round trip each, that
# cost 3-4× more per batch (31 vs 8 ms on PostgreSQL, 8.7 vs 0.6 ms on SQLite for a batch of
# 50 on the loaded 2-core machine, issue 18), too much for the approval target (p99 < 100 ms
# with 50 approvers). Here the lists go as one parameter each and, on PostgreSQL, the reads as
# one pipeline (``bulk.read_all``). Tests check on both databases that they read exactly what
# ``lock_ledger``, ``placement_reads``, ``inventory.sync_states`` and the audit head read.

def lock_requests(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Lock the requests ``ids`` (in id order) and return their columns by id: one statement
    with the ids as one parameter (on PostgreSQL one round trip with the transaction's BEGIN,
    ``bulk.read_all``)."""
    sql, columns, convert = _requests_sql(conn.dialect)
    rows = read_all(conn, [(sql, (_array(conn, sorted(set(ids))),))])[0]
    return {int(r[0]): dict(zip(columns, r, strict=True)) for r in converted(rows, convert)}


@lru_cache(maxsize=8)
def _requests_sql(dialect: Any) -> tuple[str, tuple[str, ...], tuple[Any, ...]]:
    """``lock_requests``' statement on the engine's ``dialect``, its columns and their
    conversions."""
    columns = tuple(c.name for c in _REQ.c)
    assert columns[0] == "id"
    listed = ", ".join(dialect.identifier_preparer.quote(c) for c in columns)
    lock = " FOR UPDATE" if dialect.name == "postgresql" else ""
    return (f"SELECT {listed} FROM provision_request WHERE id {_in_array(dialect, 'int8')}"
            f" ORDER BY id{lock}", columns, converters(dialect, list(_REQ.c)))


def _in_array(dialect: Any, sql_type: str) -> str:
    """``IN`` one array parameter (``_array``): PostgreSQL's binary array, SQLite's JSON."""
    if dialect.name == "postgresql":
        return f"= ANY(%b::{sql_type}[])"
    return "IN (SELECT value FROM json_each(?))"


def _array(conn: Connection, values: Sequence[Any]) -> Any:
    """``values`` as one parameter for ``_in_array``."""
    return list(values) if conn.dialect.name == "postgresql" else json.dumps(list(values))


def batch_reads(conn: Connection, keys: Sequence[tuple[str, str]],
                pairs: Iterable[tuple[str, str]], flavors: Iterable[str]) -> BatchReads:
    """Lock the ledger rows ``keys`` (as ``lock_ledger``), read the projects, quotas and
    flavors (as ``placement_reads``) and the sites' sync state, take the audit log's write
    lock and read its head: statements of the driver's own SQL, lists as one parameter each
    (``bulk.read_all``) — on PostgreSQL one pipeline, one round trip instead of six — in the
    order written here (the ledger rows first: the lock order is requests, ledger, audit
    log). On SQLite the session already holds the file's write lock (checked), which covers
    the ledger and the audit log."""
    keys, pairs, names = sorted(set(keys)), sorted(set(pairs)), sorted(set(flavors))
    if conn.dialect.name != "postgresql":
        lock_for_write(conn, PG_AUDIT_LOCK)  # SQLite: checks the session holds the file's
    sql, states_convert = _reads_sql(conn.dialect)
    sites = sorted({site for _, site in pairs})

    def arrays(*lists: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(_array(conn, values) for values in lists)

    ledger, quotas, flavor_rows, states, _, head = read_all(conn, [
        (sql["ledger"], arrays([s for s, _ in keys], [d for _, d in keys])),
        (sql["quota"], arrays(QUOTA_RESOURCES, sorted({d for d, _ in pairs}), sites))
        if pairs else None,
        (sql["flavor"], arrays(sites, names)) if sites and names else None,
        (sql["states"], ()),
        (sql["lock"], ()) if sql["lock"] else None,
        (sql["head"], ())])
    return BatchReads(
        ledger=_ledger_of(ledger, keys), projects=_projects_of(quotas, pairs),
        flavors=_flavors_of(flavor_rows, sites),
        states={m["site"]: inv.sync_state_of(m) for m in (
            dict(zip(_STATES_COLUMNS, row, strict=True))
            for row in converted(states, states_convert))},
        audit_head=anchor_of(head[0] if head else None))


_STATES_COLUMNS = tuple(c.name for c in inv.table("site_sync").c)


@lru_cache(maxsize=8)
def _reads_sql(dialect: Any) -> tuple[dict[str, str], tuple[Any, ...]]:
    """``batch_reads``' statements on the engine's ``dialect`` (lists as one parameter each),
    and the conversions of the sync states' columns."""
    pg = dialect.name == "postgresql"

    def compiled(stmt: Any) -> str:
        return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    assert tuple(c.name for c in inv.SYNC_STATES.selected_columns) == _STATES_COLUMNS
    pairs = ("(SELECT * FROM unnest(%b::text[], %b::text[]))" if pg else
             "(SELECT a.value, b.value FROM json_each(?) AS a JOIN json_each(?) AS b "
             "ON a.key = b.key)")
    text_in = _in_array(dialect, "text")
    return {
        "ledger": "SELECT site, department, vcpu, ram_mb, disk_gb, instances "
                  f"FROM reservation_ledger WHERE (site, department) IN {pairs} "
                  "ORDER BY site, department" + (" FOR UPDATE OF reservation_ledger"
                                                 if pg else ""),
        "quota": "SELECT ds.department, ds.site, ds.project_id, q.resource, q.\"limit\", "
                 "q.in_use FROM department_site AS ds LEFT OUTER JOIN quota_usage AS q "
                 f"ON q.site = ds.site AND q.project_id = ds.project_id AND q.resource {text_in} "
                 f"WHERE ds.department {text_in} AND ds.site {text_in}",
        "flavor": f"SELECT {', '.join(_FLAVOR_COLUMNS)} FROM flavor "
                  f"WHERE site {text_in} AND name {text_in}",
        "states": compiled(inv.SYNC_STATES),
        "lock": f"SELECT pg_advisory_xact_lock({int(PG_AUDIT_LOCK)})" if pg else "",
        "head": compiled(HEAD_QUERY),
    }, converters(dialect, list(inv.SYNC_STATES.selected_columns))


# --- requests, servers and events ------------------------------------------------------------

def add_event(session: Session, request_id: int, kind: str, message: str,
              at: dt.datetime | None = None) -> None:
    session.add(ProvisionEventRow(request_id=request_id, kind=kind, message=message,
                                  at=at or utcnow()))


def events(session: Session, request_id: int, *, after_id: int = 0,
           limit: int = 500) -> list[ProvisionEventRow]:
    return list(session.exec(
        select(ProvisionEventRow).where(ProvisionEventRow.request_id == request_id,
                                        col(ProvisionEventRow.id) > after_id)
        .order_by(col(ProvisionEventRow.id)).limit(limit)))


def servers(session: Session, request_id: int) -> list[ProvisionServerRow]:
    return list(session.exec(
        select(ProvisionServerRow).where(ProvisionServerRow.request_id == request_id)
        .order_by(col(ProvisionServerRow.site), col(ProvisionServerRow.ordinal))))


# A system has at most one live request: submitted, approved, provisioning or done (a rejected,
# cancelled or failed one left nothing behind, so the system may be asked for again).
LIVE_STATES = ("submitted", "approved", "provisioning", "done")


def lock_system(session: Session, department: str, system: str) -> None:
    """Hold the lock on one (department, system) until the session's transaction ends, so that
    two submissions of it never both see it free (PostgreSQL: an advisory lock on its hash;
    SQLite: the file's write lock, which a ``write_session`` holds)."""
    digest = hashlib.sha256(f"provision-system\0{department}\0{system}".encode()).digest()
    lock_for_write(session, int.from_bytes(digest[:8], "big", signed=True))


def live_request(session: Session, department: str, system: str) -> ProvisionRequestRow | None:
    """The newest live provisioning request for (department, system), if any (a system's
    lifecycle requests — scale, resize, retire — are not the request that made it)."""
    return session.exec(
        select(ProvisionRequestRow).where(ProvisionRequestRow.department == department,
                                          ProvisionRequestRow.system == system,
                                          ProvisionRequestRow.kind == "provision",
                                          col(ProvisionRequestRow.state).in_(LIVE_STATES))
        .order_by(col(ProvisionRequestRow.id).desc()).limit(1)).first()


def get_request(session: Session, request_id: int) -> ProvisionRequestRow:
    row = session.get(ProvisionRequestRow, request_id)
    if row is None:
        raise NotFound(f"no request {request_id}",
                       hint="`govcloud request list` shows the requests you may see")
    return row


def list_requests(session: Session, *, departments: Sequence[str] | None,
                  states: Sequence[str] | None = None,
                  limit: int = 200) -> list[ProvisionRequestRow]:
    q = select(ProvisionRequestRow)
    if departments is not None:
        q = q.where(col(ProvisionRequestRow.department).in_(list(departments)))
    if states:
        q = q.where(col(ProvisionRequestRow.state).in_(list(states)))
    return list(session.exec(q.order_by(col(ProvisionRequestRow.id).desc()).limit(limit)))


def count_auto_approved(session: Session, department: str, since: dt.datetime) -> int:
    return int(session.exec(select(func.count()).select_from(ProvisionRequestRow).where(
        ProvisionRequestRow.department == department,
        col(ProvisionRequestRow.approver).startswith("policy:"),
        col(ProvisionRequestRow.created_at) >= since)).one())


def spec_of(row: ProvisionRequestRow) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(row.spec_json)
    return value


# --- the dynamic inventory -------------------------------------------------------------------

def provisioned_servers(session: Session, *,
                        departments: Sequence[str] | None) -> list[dict[str, Any]]:
    """The servers of provisioned systems (requests done or provisioning, and the scale-outs
    of the systems since) with their request's department, system, DR level and placement,
    and what the snapshot knows of each (SSH endpoint, status, whether it is gone) — for the
    dynamic inventory; a server a scale-in or a retirement deleted is left out.
    ``departments``: only those (None: all)."""
    req, srv = ProvisionRequestRow, ProvisionServerRow
    columns = [col(c) for c in (req.id, req.department, req.system, req.dr_level,
                                req.placement_json, srv.site, srv.ordinal, srv.name,
                                srv.server_id, ServerRow.ssh_endpoint, ServerRow.status,
                                ServerRow.deleted_at)]
    query = (sa_select(*columns)
             .join(srv, col(srv.request_id) == col(req.id))
             .outerjoin(ServerRow, and_(col(ServerRow.site) == col(srv.site),
                                        col(ServerRow.id) == col(srv.server_id)))
             .where(col(req.state).in_(("done", "provisioning")),
                    col(req.kind).in_(("provision", "scale")),
                    col(srv.server_id).is_not(None),
                    col(srv.status).not_in(("deleted", "failed")))
             .order_by(col(req.department), col(req.system), col(srv.site), col(srv.ordinal)))
    if departments is not None:
        query = query.where(col(req.department).in_(list(departments)))
    keys = ("request", "department", "system", "dr_level", "placement_json", "site", "ordinal",
            "name", "server_id", "ssh_endpoint", "status", "deleted_at")
    return [dict(zip(keys, row, strict=True)) for row in session.execute(query)]
