"""The notifications' outbox: its SQL (the table is ``tables_notify``'s). Messages are added
on the caller's connection, in the transaction of the state change they tell about; the
notifier claims the ones due (a lease: ``next_attempt_at`` pushed ahead, so that two workers
never send one message at once), then records each outcome in a transaction of its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from govcloud.domain.notifications import DeliveryState
from govcloud.store.inventory import CHUNK, aware, table
from govcloud.store.tables_notify import NotificationRow  # noqa: F401  (registers the table)

TABLE = "notification"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One row of the outbox."""

    id: int
    event: str
    ref: str
    department: str
    channel: str
    recipient: str
    payload: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None


def _message(r: Any) -> StoredMessage:
    return StoredMessage(
        id=r.id, event=r.event, ref=r.ref, department=r.department, channel=r.channel,
        recipient=r.recipient, payload=r.payload, state=r.state, attempts=r.attempts,
        next_attempt_at=aware(r.next_attempt_at) or r.next_attempt_at,
        last_error=r.last_error, created_at=aware(r.created_at) or r.created_at,
        updated_at=aware(r.updated_at) or r.updated_at, sent_at=aware(r.sent_at))


def add(conn: Connection, rows: Sequence[dict[str, Any]], *, at: dt.datetime) -> int:
    """Add messages (``event``, ``ref``, ``department``, ``channel``, ``recipient``,
    ``payload``), pending and due at ``at``; the caller's transaction commits them."""
    values = [{**r, "state": DeliveryState.PENDING.value, "attempts": 0,
               "next_attempt_at": at, "created_at": at, "updated_at": at} for r in rows]
    for i in range(0, len(values), CHUNK):
        conn.execute(insert(table(TABLE)), values[i:i + CHUNK])
    return len(values)


def find(conn: Connection, message_id: int) -> StoredMessage | None:
    tbl = table(TABLE)
    r = conn.execute(select(tbl).where(tbl.c.id == message_id)).first()
    return None if r is None else _message(r)


def listing(conn: Connection, *, departments: Sequence[str] | None, state: str | None,
            limit: int, before: int | None = None) -> list[StoredMessage]:
    """Messages newest first (ids below ``before`` when given), of ``departments`` (None:
    every one) and in ``state`` (None: any)."""
    tbl = table(TABLE)
    query = select(tbl)
    if departments is not None:
        query = query.where(tbl.c.department.in_(sorted(set(departments))))
    if state is not None:
        query = query.where(tbl.c.state == state)
    if before is not None:
        query = query.where(tbl.c.id < before)
    return [_message(r) for r in conn.execute(query.order_by(tbl.c.id.desc()).limit(limit))]


def claim_due(conn: Connection, *, now: dt.datetime, lease_until: dt.datetime,
              limit: int) -> list[StoredMessage]:
    """The pending messages due at ``now`` (oldest due first, at most ``limit``), each taken
    by pushing its ``next_attempt_at`` to ``lease_until``: a message another worker took
    meanwhile is left out. Run it in a write transaction."""
    tbl = table(TABLE)
    due = and_(tbl.c.state == DeliveryState.PENDING.value, tbl.c.next_attempt_at <= now)
    ids = [r.id for r in conn.execute(
        select(tbl.c.id).where(due).order_by(tbl.c.next_attempt_at, tbl.c.id).limit(limit))]
    taken = []
    for message_id in ids:
        result = conn.execute(update(tbl).where(and_(tbl.c.id == message_id, due))
                              .values(next_attempt_at=lease_until))
        if result.rowcount == 1:
            taken.append(message_id)
    if not taken:
        return []
    rows = conn.execute(select(tbl).where(tbl.c.id.in_(taken)).order_by(
        tbl.c.created_at, tbl.c.id))
    return [_message(r) for r in rows]


def record_sent(conn: Connection, message_id: int, *, attempts: int, at: dt.datetime) -> None:
    tbl = table(TABLE)
    conn.execute(update(tbl).where(tbl.c.id == message_id).values(
        state=DeliveryState.SENT.value, attempts=attempts, sent_at=at, updated_at=at,
        last_error=None))


def record_failed(conn: Connection, message_id: int, *, attempts: int, state: DeliveryState,
                  next_attempt_at: dt.datetime | None, error: str, at: dt.datetime) -> None:
    """A failed attempt: the message waits until ``next_attempt_at`` (pending), or is given
    up (dead; its ``next_attempt_at`` stays as it was)."""
    tbl = table(TABLE)
    values: dict[str, Any] = {"state": state.value, "attempts": attempts,
                              "last_error": error, "updated_at": at}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    conn.execute(update(tbl).where(tbl.c.id == message_id).values(**values))


def requeue(conn: Connection, message_id: int, *, at: dt.datetime) -> StoredMessage | None:
    """Make the message pending and due at ``at`` with its attempts counted from zero (a
    person asked to retry it); its last error stays until the next attempt. None: no such
    message."""
    tbl = table(TABLE)
    conn.execute(update(tbl).where(tbl.c.id == message_id).values(
        state=DeliveryState.PENDING.value, attempts=0, next_attempt_at=at, updated_at=at))
    return find(conn, message_id)


def counts(conn: Connection, *, departments: Sequence[str] | None) -> dict[str, int]:
    """How many messages of ``departments`` (None: every one) are in each state."""
    tbl = table(TABLE)
    query = select(tbl.c.state, func.count()).group_by(tbl.c.state)
    if departments is not None:
        query = query.where(tbl.c.department.in_(sorted(set(departments))))
    return {r[0]: r[1] for r in conn.execute(query)}
