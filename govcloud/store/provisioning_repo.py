"""The provisioning repository: every read and write of the provisioning services (requests,
approval, lifecycle) and of the job worker goes through a ``ProvisioningStore``.

``reading()`` and ``writing()`` are units of work: a session, and for ``writing`` the write
lock taken first (SQLite ``BEGIN IMMEDIATE``, ``store.audit.write_session``) and one commit at
the end when the block ran through (an exception rolls it back). Their methods run the
statements of ``govcloud.store.provisioning``; the services hold no SQL. The store is made
once per context (``ProvisioningContext.repo``) and remembers the ledger rows it made sure of.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from govcloud.domain.audit import ChainAnchor
from govcloud.domain.capacity import FlavorSpec
from govcloud.domain.inventory import QuotaInfo, ServerInfo
from govcloud.domain.placement import Demand
from govcloud.store import inventory as inv
from govcloud.store import provisioning as sql
from govcloud.store.audit import AuditLog, AuditRecord, write_session
from govcloud.store.engine import snapshot_reads, write_begin
from govcloud.store.tables import utcnow
from govcloud.store.tables_provisioning import (
    ProvisionEventRow,
    ProvisionRequestRow,
    ProvisionServerRow,
)

Clock = Callable[[], dt.datetime]


class Reader:
    """The reads of one unit of work (its session)."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def get_request(self, request_id: int) -> ProvisionRequestRow:
        """The request, or NotFound."""
        return sql.get_request(self.session, request_id)

    def find_request(self, request_id: int) -> ProvisionRequestRow | None:
        return self.session.get(ProvisionRequestRow, request_id)

    def list_requests(self, *, departments: Sequence[str] | None,
                      states: Sequence[str] | None = None,
                      limit: int = 200) -> list[ProvisionRequestRow]:
        return sql.list_requests(self.session, departments=departments, states=states,
                                 limit=limit)

    def live_request(self, department: str, system: str) -> ProvisionRequestRow | None:
        return sql.live_request(self.session, department, system)

    def servers(self, request_id: int) -> list[ProvisionServerRow]:
        return sql.servers(self.session, request_id)

    def events(self, request_id: int, *, after_id: int = 0) -> list[ProvisionEventRow]:
        return sql.events(self.session, request_id, after_id=after_id)

    def project_of(self, department: str, site: str) -> str | None:
        return sql.project_of(self.session, department, site)

    def site_flavors(self, site: str, names: Iterable[str]) -> dict[str, FlavorSpec]:
        return sql.site_flavors(self.session, site, names)

    def flavor_names(self, limit: int = 8) -> list[str]:
        return inv.flavor_names(self.session.connection(), limit=limit)

    def count_auto_approved(self, department: str, since: dt.datetime) -> int:
        return sql.count_auto_approved(self.session, department, since)

    def ledger_totals(self) -> dict[tuple[str, str], Demand]:
        return sql.ledger_totals(self.session)

    def reservation_sums(self) -> dict[tuple[str, str], Demand]:
        return sql.reservation_sums(self.session)


class Writer(Reader):
    """The writes of one unit of work (``ProvisioningStore.writing``)."""

    def lock_system(self, department: str, system: str) -> None:
        sql.lock_system(self.session, department, system)

    def lock_request(self, request_id: int) -> ProvisionRequestRow:
        return sql.lock_request(self.session, request_id)

    def add_request(self, row: ProvisionRequestRow) -> ProvisionRequestRow:
        """Insert ``row``; it has its id afterwards."""
        self.session.add(row)
        self.session.flush()
        return row

    def save(self, row: Any) -> None:
        self.session.add(row)

    def release(self, row: ProvisionRequestRow, at: dt.datetime) -> int:
        return sql.release(self.session, row, at)

    def add_event(self, request_id: int, kind: str, message: str,
                  at: dt.datetime | None = None) -> None:
        sql.add_event(self.session, request_id, kind, message, at or self.clock())

    def audit(self, *, actor: str, action: str, target: str,
              before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
        AuditLog(session=self.session, clock=self.clock).append(
            actor=actor, action=action, target=target,
            before=None if before is None else dict(before), after=dict(after))

    def record_server(self, request_id: int, *, site: str, ordinal: int, name: str, key: str,
                      server_id: str | None, status: str, error: str | None = None) -> None:
        row = self.session.get(ProvisionServerRow, (request_id, site, ordinal))
        if row is None:
            row = ProvisionServerRow(request_id=request_id, site=site, ordinal=ordinal,
                                     name=name, key=key)
        row.server_id = server_id or row.server_id
        row.status = status
        row.error = error
        row.updated_at = self.clock()
        self.session.add(row)

    # --- a batch of approvals ------------------------------------------------------------------

    def lock_requests(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return sql.lock_requests(self.session.connection(), ids)

    def batch_reads(self, keys: Sequence[tuple[str, str]], pairs: Iterable[tuple[str, str]],
                    flavors: Iterable[str]) -> sql.BatchReads:
        return sql.batch_reads(self.session.connection(), keys, pairs, flavors)

    def connection(self) -> Connection:
        """The unit of work's connection, for the inventory's readers (the sites' hosts)."""
        return self.session.connection()

    def write_approvals(self, *, requests: Sequence[Mapping[str, Any]],
                        reservations: Sequence[Mapping[str, Any]],
                        ledger: Mapping[tuple[str, str], Demand],
                        events: Sequence[Mapping[str, Any]],
                        audit: Sequence[AuditRecord], audit_head: ChainAnchor) -> None:
        sealed = AuditLog(session=self.session, clock=self.clock).seal_many(
            audit, head=audit_head)
        sql.write_approvals(self.session.connection(), requests=requests,
                            reservations=reservations, ledger=ledger, events=events,
                            sealed=sealed)

    def rollback(self) -> None:
        self.session.rollback()


class ProvisioningStore:
    """The provisioning slice's repository on ``engine``."""

    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self._snapshots = snapshot_reads(engine)  # a reader sees one state of the books
        self.clock = clock
        self._ledger_made: set[tuple[str, str]] = set()  # rows are never deleted
        self._lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        with Session(self._snapshots) as session:
            yield Reader(session, self.clock)

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """A write transaction, committed when the block ran through."""
        with write_session(self.engine) as session:
            session.expire_on_commit = False  # what the block wrote is what it returns
            yield Writer(session, self.clock)
            session.commit()

    def request(self, request_id: int) -> ProvisionRequestRow:
        """The request as stored now (detached), or NotFound."""
        with Session(self.engine) as session:
            row = sql.get_request(session, request_id)
            session.expunge(row)
            return row

    def unensured(self, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The ledger ``keys`` not known to exist (``ensure_ledger`` has not made sure)."""
        with self._lock:
            return sorted(set(keys) - self._ledger_made)

    def ensure_ledger(self, keys: Iterable[tuple[str, str]]) -> None:
        """Make the ledger rows ``keys`` that do not exist yet (once per key and store: on
        SQLite every insert attempt is a write transaction)."""
        missing = self.unensured(keys)
        if missing:
            sql.ensure_ledger(self.engine, missing)
            with self._lock:
                self._ledger_made.update(missing)

    def note(self, request_id: int, kind: str, message: str) -> None:
        """A progress event, in a transaction of its own."""
        with self.writing() as tx:
            tx.add_event(request_id, kind, message)

    def write_inventory(self, site: str, servers: Sequence[ServerInfo],
                        quotas: Sequence[QuotaInfo], *, project: str, department: str) -> None:
        """Write a request's new servers and its project's quota usage into the inventory
        snapshot (the inventory store's upserts: requests of one project finishing together
        each write their rows)."""
        with write_begin(self.engine) as conn:
            inv.upsert_servers(conn, site, servers, {project: department})
            inv.upsert(conn, inv.table("quota_usage"),
                       inv.quota_rows(site, quotas, {project: department}),
                       ("site", "project_id", "resource"))
