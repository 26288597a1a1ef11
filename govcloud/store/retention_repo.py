"""The compaction's SQL: finding and deleting old rows in batches (each batch in the caller's
transaction, so no one transaction holds the database for long), for the kinds of history
``govcloud.domain.retention`` names. The audit log is not touched here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, func, select

from govcloud.store.inventory import aware, purge_tombstones
from govcloud.store.tables import metadata
from govcloud.store.tables_alerts import AlertEpisodeRow  # noqa: F401  (registers the table)

EVENT_TABLES = ("provision_event", "migration_event", "host_drain_event")
FINISHED_NOTIFICATIONS = ("sent", "dead")


def _table(name: str) -> Table:
    return metadata.tables[name]


def _old(name: str, before: dt.datetime) -> Any:
    """The condition that picks ``name``'s rows the compaction removes at ``before``."""
    tbl = _table(name)
    if name == "notification":
        return and_(tbl.c.state.in_(FINISHED_NOTIFICATIONS), tbl.c.updated_at < before)
    return tbl.c.at < before


def count_old(conn: Connection, name: str, before: dt.datetime) -> int:
    tbl = _table(name)
    return int(conn.execute(select(func.count()).select_from(tbl)
                            .where(_old(name, before))).scalar_one())


def delete_old(conn: Connection, name: str, before: dt.datetime, *, limit: int) -> int:
    """Delete at most ``limit`` of the oldest such rows; how many went."""
    tbl = _table(name)
    ids = [r[0] for r in conn.execute(select(tbl.c.id).where(_old(name, before))
                                      .order_by(tbl.c.id).limit(limit))]
    if ids:
        conn.execute(delete(tbl).where(tbl.c.id.in_(ids)))
    return len(ids)


def samples_between(conn: Connection, start: dt.datetime | None, end: dt.datetime, *,
                    after_id: int, limit: int) -> list[tuple[int, str, dt.datetime]]:
    """Capacity samples taken in [start, end) with ids above ``after_id``, by id."""
    tbl = _table("capacity_sample")
    conds = [tbl.c.at < end, tbl.c.id > after_id]
    if start is not None:
        conds.append(tbl.c.at >= start)
    return [(int(r.id), r.site, aware(r.at) or end) for r in conn.execute(
        select(tbl.c.id, tbl.c.site, tbl.c.at).where(and_(*conds)).order_by(tbl.c.id)
        .limit(limit))]


def delete_samples(conn: Connection, ids: Sequence[int]) -> int:
    tbl = _table("capacity_sample")
    total = 0
    for i in range(0, len(ids), 1000):
        result = conn.execute(delete(tbl).where(tbl.c.id.in_(list(ids[i:i + 1000]))))
        total += int(result.rowcount or 0)
    return total


def tombstone_sites(conn: Connection, before: dt.datetime) -> dict[str, int]:
    """Per site, how many rows of servers deleted before ``before`` are kept."""
    srv = _table("server")
    return {r[0]: int(r[1]) for r in conn.execute(
        select(srv.c.site, func.count()).where(and_(srv.c.deleted_at.is_not(None),
                                                    srv.c.deleted_at < before))
        .group_by(srv.c.site))}


def purge_site_tombstones(conn: Connection, site: str, before: dt.datetime) -> int:
    """Delete them (raising the servers' change horizon past them)."""
    return purge_tombstones(conn, site, before=before)


def _ended_alerts(before: dt.datetime) -> Any:
    tbl = _table("alert_episode")
    return and_(tbl.c.ended_at.is_not(None), tbl.c.ended_at < before)


def count_ended_alerts(conn: Connection, before: dt.datetime) -> int:
    """Alert episodes that ended before ``before`` (one still firing is never counted)."""
    return int(conn.execute(select(func.count()).select_from(_table("alert_episode"))
                            .where(_ended_alerts(before))).scalar_one())


def delete_ended_alerts(conn: Connection, before: dt.datetime) -> int:
    result = conn.execute(delete(_table("alert_episode")).where(_ended_alerts(before)))
    return int(result.rowcount or 0)
