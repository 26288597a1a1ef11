"""The audit log in the store: one unbroken hash chain, however many writers append at once.

Appending takes the database's write lock *before* it reads the head of the chain — SQLite's
``BEGIN IMMEDIATE`` (a session from ``write_session``), PostgreSQL's transaction-scoped advisory
lock — then reads the head, seals the entry (``govcloud.domain.audit``) and inserts it. Two
writers can therefore never both chain to the same head; and ``seq`` is the primary key, so
even a writer that skipped the lock could not fork the chain, only fail.

``AuditLog(session=...)`` appends inside the caller's transaction, so a change and its audit
entry commit (or roll back) together::

    with write_session(engine) as session:
        ...  # make the change
        AuditLog(session=session).append(actor=..., action=..., target=..., before=..., after=...)
        session.commit()

``append_committed(engine, ...)`` does the same for an entry on its own.

The audit key (``govcloud.domain.audit_signing``) travels with the engine: the composition root
passes ``keyed(engine, key)`` down, and every session on it seals entries with their MAC and
verifies them against the key. An engine without a key writes entries without a MAC and
verifies the hash chain only (tests, benchmarks, tools reading a copy of the database).

Targets are written ``kind:name`` (``department:gd-psd``, ``department:gd-psd@PROD`` for one
site, ``principal:li.wei``, ``site:PROD``, ``catalogue``), so that a scoped view can filter
with ``AuditFilter(departments=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, false, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from govcloud.domain.audit import (
    GENESIS,
    AuditEntry,
    ChainAnchor,
    Sealed,
    Summary,
    VerifyResult,
    seal_stored,
    verify_chain,
)
from govcloud.domain.audit_signing import AuditKey
from govcloud.errors import InvalidInput
from govcloud.store.bulk import Insert, write_all
from govcloud.store.tables import AuditEntryRow, utcnow

MAX_PAGE = 1000

# Serialises appends on PostgreSQL (held until the appending transaction ends).
PG_AUDIT_LOCK = 0x60C1A0D17

# The engine's execution option that carries the audit key (``keyed``).
KEY_OPTION = "govcloud_audit_key"


def keyed(engine: Engine, key: AuditKey) -> Engine:
    """``engine`` whose sessions seal audit entries with ``key``'s MAC and verify them."""
    return engine.execution_options(**{KEY_OPTION: key})


def key_of(session: Session | Connection) -> AuditKey | None:
    """The audit key of the engine behind ``session`` (None: it has none)."""
    conn = session.connection() if isinstance(session, Session) else session
    key = conn.get_execution_options().get(KEY_OPTION)
    return key if isinstance(key, AuditKey) else None


def write_session(engine: Engine) -> Session:
    """A session whose transactions start by taking the write lock on SQLite (BEGIN IMMEDIATE).

    Use it for every transaction that appends to the audit log or bootstraps an admin: a
    deferred SQLite transaction that reads and then writes can fail with "database is locked"
    when another writer got in between; an immediate one waits its turn instead.
    """
    return Session(engine.execution_options(sqlite_begin="IMMEDIATE"))


def lock_for_write(session: Session | Connection, key: int) -> None:
    """Hold the write lock for ``key`` until the session's (connection's) transaction ends.

    PostgreSQL: ``pg_advisory_xact_lock(key)``. SQLite has one write lock for the whole file,
    which the session must already hold from ``BEGIN IMMEDIATE`` (see ``write_session``).
    """
    conn = session.connection() if isinstance(session, Session) else session
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(key)})")
    elif conn.get_execution_options().get("sqlite_begin") != "IMMEDIATE":
        raise RuntimeError("this write must run in a session from "
                           "govcloud.store.audit.write_session(engine) (BEGIN IMMEDIATE)")


def _utc(value: datetime) -> datetime:
    """Aware UTC; SQLite hands back naive datetimes, which govcloud always stores in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _loads(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:  # only a tampered row holds anything but a JSON object: keep it
        return {"_not_json": text}  # visible, so that verify reports the entry as edited
    return value if isinstance(value, dict) else {"_not_an_object": value}


def _to_entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(seq=row.seq, at=_utc(row.at), actor=row.actor, action=row.action,
                      target=row.target, before=_loads(row.before_json),
                      after=_loads(row.after_json), prev_hash=row.prev_hash, hash=row.hash,
                      mac=row.mac)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What an entry says before it is chained (``AuditLog.append_many``)."""

    actor: str
    action: str
    target: str
    before: Summary | None = None
    after: Summary | None = None


_AUDIT = AuditEntryRow.__table__  # type: ignore[attr-defined]


HEAD_QUERY = sa_select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1)


def anchor_of(row: Any) -> ChainAnchor:
    """The head from ``HEAD_QUERY``'s row (None: the log is empty)."""
    return GENESIS if row is None else ChainAnchor(int(row[0]), str(row[1]))


def audit_insert(sealed: Sequence[Sealed]) -> Insert:
    """Inserting ``sealed`` entries, as a bulk operation (``bulk.write_all``)."""
    return Insert(_AUDIT, [
        {"seq": s.entry.seq, "at": s.entry.at, "actor": s.entry.actor,
         "action": s.entry.action, "target": s.entry.target, "before_json": s.before_json,
         "after_json": s.after_json, "prev_hash": s.entry.prev_hash, "hash": s.entry.hash,
         "mac": s.entry.mac}
        for s in sealed])


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What ``list_entries`` selects; every field left None selects everything."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    targets: Collection[str] | None = None  # any of these targets, exactly
    # any of these departments: ``department:CODE`` and ``department:CODE@SITE`` (what a
    # scoped principal may see: pass the codes from rbac.visible_departments)
    departments: Collection[str] | None = None
    since: datetime | None = None           # at >= since
    until: datetime | None = None           # at < until


class AuditLog:
    """The audit log. The caller owns the session and its transaction."""

    def __init__(self, *, session: Session, clock: Callable[[], datetime] = utcnow) -> None:
        self.session = session
        self.clock = clock

    def head(self) -> ChainAnchor:
        """The newest entry's seq and hash (``GENESIS`` while the log is empty)."""
        row = self.session.connection().execute(HEAD_QUERY).first()
        return anchor_of(row)

    def append(self, *, actor: str, action: str, target: str, before: Summary | None = None,
               after: Summary | None = None) -> AuditEntry:
        """Chain a new entry to the head, inside the caller's transaction (written, not
        committed). Summaries are plain JSON and must never hold secrets such as tokens."""
        return self.append_many([AuditRecord(actor, action, target, before, after)])[0]

    def append_many(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Chain several entries in the given order, as ``append`` one after another would,
        with one lock, one read of the head and one INSERT for them all."""
        sealed = self.seal_many(records)
        write_all(self.session.connection(), [audit_insert(sealed)])
        return [s.entry for s in sealed]

    def seal_many(self, records: Sequence[AuditRecord], *,
                  head: ChainAnchor | None = None) -> list[Sealed]:
        """Take the log's write lock, read the head and seal ``records`` in order after it;
        the caller inserts them (``audit_insert``) in the same transaction — with its other
        writes in one ``bulk.write_all``, say. ``head``: the caller already holds the lock
        (``PG_AUDIT_LOCK`` on PostgreSQL, the write lock on SQLite) and read the head
        (``HEAD_QUERY``) in this transaction."""
        if not records:
            return []
        if head is None:
            lock_for_write(self.session, PG_AUDIT_LOCK)
            head = self.head()
        seq, prev = head.seq, head.hash
        key = key_of(self.session)
        sealed: list[Sealed] = []
        for r in records:
            s = seal_stored(seq=seq + 1, at=self.clock(), actor=r.actor, action=r.action,
                            target=r.target, before=r.before, after=r.after, prev_hash=prev,
                            key=key)
            sealed.append(s)
            seq, prev = s.entry.seq, s.entry.hash
        return sealed

    def find_entry(self, seq: int) -> AuditEntry | None:
        row = self.session.get(AuditEntryRow, seq)
        return None if row is None else _to_entry(row)

    def list_entries(self, where: AuditFilter = AuditFilter(), *, after_seq: int | None = None,
                     before_seq: int | None = None, limit: int = 100,
                     newest_first: bool = False) -> list[AuditEntry]:
        """One page of entries matching ``where``, in seq order (or newest first).

        Page forward with ``after_seq`` = the last seq of the previous page, or backward with
        ``before_seq`` (and ``newest_first``).
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}",
                               hint="page with after_seq / before_seq instead")
        query = select(AuditEntryRow)
        for column, value in ((AuditEntryRow.actor, where.actor),
                              (AuditEntryRow.action, where.action),
                              (AuditEntryRow.target, where.target)):
            if value is not None:
                query = query.where(col(column) == value)
        if where.targets is not None:
            query = query.where(col(AuditEntryRow.target).in_(sorted(where.targets)))
        if where.departments is not None:
            target = col(AuditEntryRow.target)
            query = query.where(or_(false(), *(
                cond for code in sorted(where.departments)
                for cond in (target == f"department:{code}",
                             target.startswith(f"department:{code}@", autoescape=True)))))
        if where.since is not None:
            query = query.where(col(AuditEntryRow.at) >= _utc(where.since))
        if where.until is not None:
            query = query.where(col(AuditEntryRow.at) < _utc(where.until))
        if after_seq is not None:
            query = query.where(col(AuditEntryRow.seq) > after_seq)
        if before_seq is not None:
            query = query.where(col(AuditEntryRow.seq) < before_seq)
        order = col(AuditEntryRow.seq).desc() if newest_first else col(AuditEntryRow.seq)
        return [_to_entry(r) for r in self.session.exec(query.order_by(order).limit(limit))]

    def iter_entries(self, *, after_seq: int = 0, page: int = MAX_PAGE) -> Iterator[AuditEntry]:
        """Every entry after ``after_seq`` in stored (seq) order, read a page at a time."""
        while True:
            rows = self.list_entries(after_seq=after_seq, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after_seq = rows[-1].seq

    def count(self) -> int:
        return self.session.exec(select(func.count()).select_from(AuditEntryRow)).one()

    def verify(self, *, after: ChainAnchor = GENESIS,
               anchor: ChainAnchor | None = None) -> VerifyResult:
        """Check the stored chain (see ``govcloud.domain.audit.verify_chain``).

        Reads in seq order, as the primary key orders it; ``after`` skips archived entries,
        ``anchor`` is a head recorded earlier that the chain must still reach. On a keyed
        engine every entry must carry the key's MAC."""
        return verify_chain(self.iter_entries(after_seq=after.seq), after=after, anchor=anchor,
                            key=key_of(self.session))

    def sign_unsigned(self) -> int:
        """Give every entry without a MAC the key's MAC (in the caller's write transaction);
        the number signed. Only for the moment a key is first made: it vouches for entries
        written before the log had one, so the chain must verify first."""
        key = key_of(self.session)
        if key is None:
            raise RuntimeError("sign_unsigned needs a session on a keyed engine")
        lock_for_write(self.session, PG_AUDIT_LOCK)
        result = verify_chain(self.iter_entries())
        if not result.ok:
            raise InvalidInput(f"will not sign a broken audit chain: {result.describe()}",
                               hint="restore the audit log from a backup first")
        table = _AUDIT
        rows = self.session.connection().execute(
            sa_select(table.c.seq, table.c.hash).where(table.c.mac.is_(None))).all()
        for seq, digest in rows:
            self.session.connection().execute(
                table.update().where(table.c.seq == seq).values(mac=key.entry_mac(digest)))
        return len(rows)


def append_committed(engine: Engine, *, actor: str, action: str, target: str,
                     before: Summary | None = None, after: Summary | None = None,
                     clock: Callable[[], datetime] = utcnow) -> AuditEntry:
    """Append one entry in a transaction of its own: lock, read the head, insert, commit."""
    with write_session(engine) as session:
        entry = AuditLog(session=session, clock=clock).append(
            actor=actor, action=action, target=target, before=before, after=after)
        session.commit()
        return entry
