"""Provisioning requests, reservations, servers and events in the store.

Reservations never over-commit: a reserving or releasing transaction runs in a session from
``write_session`` (SQLite: ``BEGIN IMMEDIATE``, so it holds the database's write lock before it
reads anything) and, on PostgreSQL, locks the request row and then the ledger rows it touches
(``SELECT ... FOR UPDATE``, in one global order: site, then department) before it reads them.
Two approvals can therefore never both read the same free amount and both spend it. The ledger
rows must exist before they can be locked: ``ensure_ledger`` inserts missing ones (``ON
CONFLICT DO NOTHING``) in a transaction of its own first.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from govcloud.domain.capacity import FlavorSpec, Resources
from govcloud.domain.placement import Demand, Quota
from govcloud.errors import NotFound
from govcloud.store import inventory as inv
from govcloud.store.tables import utcnow
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


_ENSURED: weakref.WeakKeyDictionary[Engine, set[tuple[str, str]]] = \
    weakref.WeakKeyDictionary()
_ENSURED_LOCK = threading.Lock()


def ensure_ledger(engine: Engine, keys: Sequence[tuple[str, str]]) -> None:
    """Insert the ledger rows that do not exist yet (concurrent callers are fine). Rows are
    never deleted, so keys known to exist are remembered per engine and skipped (on SQLite
    every insert attempt is a write transaction)."""
    with _ENSURED_LOCK:
        known = _ENSURED.setdefault(engine, set())
        keys = [k for k in keys if k not in known]
    if not keys:
        return
    tbl = ReservationLedgerRow.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(tbl).on_conflict_do_nothing(index_elements=["site", "department"])
        conn.execute(stmt, [{"site": s, "department": d, "vcpu": 0, "ram_mb": 0, "disk_gb": 0,
                             "instances": 0} for s, d in keys])
    with _ENSURED_LOCK:
        _ENSURED.setdefault(engine, set()).update(keys)


def lock_request(session: Session, request_id: int) -> ProvisionRequestRow:
    row = session.exec(select(ProvisionRequestRow).where(ProvisionRequestRow.id == request_id)
                       .with_for_update()).one_or_none()
    if row is None:
        raise NotFound(f"no request {request_id}",
                       hint="`govcloud request list` shows the requests you may see")
    return row


def lock_ledger(session: Session,
                keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ReservationLedgerRow]:
    """Lock and return the ledger rows ``keys`` (sorted: every writer locks in one order)."""
    keys = sorted(keys)
    rows = session.exec(
        select(ReservationLedgerRow)
        .where(tuple_(col(ReservationLedgerRow.site),
                      col(ReservationLedgerRow.department)).in_(keys))
        .order_by(col(ReservationLedgerRow.site), col(ReservationLedgerRow.department))
        .with_for_update()).all()
    found = {(r.site, r.department): r for r in rows}
    missing = [k for k in keys if k not in found]
    if missing:
        raise RuntimeError(f"ledger rows missing (ensure_ledger first): {missing}")
    return found


def held(row: ReservationLedgerRow) -> Demand:
    return Demand(Resources(row.vcpu, row.ram_mb, row.disk_gb), row.instances)


def _add(row: ReservationLedgerRow, demand: Demand, sign: int) -> None:
    row.vcpu += sign * demand.resources.vcpu
    row.ram_mb += sign * demand.resources.ram_mb
    row.disk_gb += sign * demand.resources.disk_gb
    row.instances += sign * demand.instances


def reserve(session: Session, *, request_id: int, department: str,
            demands: Mapping[str, Demand],
            ledger: Mapping[tuple[str, str], ReservationLedgerRow],
            at: dt.datetime) -> None:
    """Record the request's reservation per site and add it to the (locked) ledger rows."""
    for site, demand in sorted(demands.items()):
        for key in ((site, SITE_TOTAL), (site, department)):
            _add(ledger[key], demand, +1)
            session.add(ledger[key])
        session.add(ReservationRow(
            request_id=request_id, site=site, department=department,
            vcpu=demand.resources.vcpu, ram_mb=demand.resources.ram_mb,
            disk_gb=demand.resources.disk_gb, instances=demand.instances, created_at=at))


def active_reservations(session: Session, request_id: int) -> list[ReservationRow]:
    return list(session.exec(select(ReservationRow).where(
        ReservationRow.request_id == request_id, col(ReservationRow.released_at).is_(None))))


def release(session: Session, request: ProvisionRequestRow, at: dt.datetime) -> int:
    """Release what the (locked) request holds; returns how many site reservations."""
    rows = active_reservations(session, request.id or 0)
    if not rows:
        return 0
    ledger = lock_ledger(session, ledger_keys(request.department, [r.site for r in rows]))
    for r in rows:
        demand = Demand(Resources(r.vcpu, r.ram_mb, r.disk_gb), r.instances)
        for key in ((r.site, SITE_TOTAL), (r.site, r.department)):
            _add(ledger[key], demand, -1)
            session.add(ledger[key])
        r.released_at = at
        session.add(r)
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
    wanted = sorted(set(names))
    rows = session.connection().execute(
        sa_select(flv).where(flv.c.site == site, flv.c.name.in_(wanted))).all()
    return {r.name: FlavorSpec(name=r.name, vcpus=r.vcpus, ram_mb=r.ram_mb, disk_gb=r.disk_gb,
                               ephemeral_gb=r.ephemeral_gb, swap_mb=r.swap_mb) for r in rows}


def project_of(session: Session, department: str, site: str) -> str | None:
    tbl = inv.table("department_site")
    return session.connection().execute(sa_select(tbl.c.project_id).where(
        tbl.c.department == department, tbl.c.site == site)).scalar_one_or_none()


def department_quotas(session: Session, site: str, project_id: str | None) -> dict[str, Quota]:
    if project_id is None:
        return {}
    tbl = inv.table("quota_usage")
    return {r.resource: Quota(int(r.limit), int(r.in_use))
            for r in session.connection().execute(sa_select(tbl).where(
                tbl.c.site == site, tbl.c.project_id == project_id,
                tbl.c.resource.in_(["cores", "ram", "instances", "server_groups",
                                     "server_group_members"])))}


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
