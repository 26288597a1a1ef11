"""The alert history's SQL (``tables_alerts``): recording the episodes of a post (idempotent:
a repeat changes nothing but when it was last seen, an end is set once) and reading those
that fired in a window, for the scorecard. Times are stored in UTC."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from govcloud.domain.alert_history import Episode, new_end
from govcloud.store.inventory import aware
from govcloud.store.tables import metadata
from govcloud.store.tables_alerts import AlertEpisodeRow  # noqa: F401  (registers the table)

CHUNK = 500


def _table() -> Any:
    return metadata.tables["alert_episode"]


def _utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one post changed: episodes new to govcloud, episodes it was told the end of,
    and repeats of what it knew."""

    new: int
    ended: int
    repeated: int


def record(conn: Connection, episodes: Sequence[Episode], *, by: str,
           at: dt.datetime) -> Recorded:
    """Record ``episodes`` (one per fingerprint and start: ``domain.alert_history.merged``)
    in the caller's transaction. Two posts of the same episode at once (two Alertmanagers)
    are fine: an insert that meets the other's row does nothing, and an end is only set on a
    row that has none."""
    tbl = _table()
    now = _utc(at)
    stored: dict[tuple[str, dt.datetime], dt.datetime | None] = {}
    prints = sorted({e.fingerprint for e in episodes})
    for i in range(0, len(prints), CHUNK):
        for r in conn.execute(select(tbl.c.fingerprint, tbl.c.started_at, tbl.c.ended_at)
                              .where(tbl.c.fingerprint.in_(prints[i:i + CHUNK]))):
            stored[(r.fingerprint, _utc(aware(r.started_at) or now))] = aware(r.ended_at)
    fresh, ends, seen = [], [], []
    for e in episodes:
        key = (e.fingerprint, _utc(e.started))
        if key not in stored:
            fresh.append(_row(e, by, now))
            continue
        end = new_end(stored[key], e.ended)
        if end is not None:
            ends.append({"fp": key[0], "st": key[1], "end": _utc(end), "seen": now})
        else:
            seen.append({"fp": key[0], "st": key[1], "seen": now})
    if fresh:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(tbl).on_conflict_do_nothing(
            index_elements=["fingerprint", "started_at"]), fresh)
    # a new ended episode whose insert met another post's open row still ends it
    raced = [{"fp": r["fingerprint"], "st": r["started_at"], "end": r["ended_at"], "seen": now}
             for r in fresh if r["ended_at"] is not None]
    key_is = and_(tbl.c.fingerprint == bindparam("fp"), tbl.c.started_at == bindparam("st"))
    if ends or raced:
        conn.execute(update(tbl).where(key_is, tbl.c.ended_at.is_(None))
                     .values(ended_at=bindparam("end"), last_seen=bindparam("seen")),
                     ends + raced)
    if seen:
        conn.execute(update(tbl).where(key_is).values(last_seen=bindparam("seen")), seen)
    return Recorded(len(fresh), len(ends), len(seen))


def _row(e: Episode, by: str, now: dt.datetime) -> dict[str, Any]:
    return {"fingerprint": e.fingerprint, "started_at": _utc(e.started),
            "ended_at": None if e.ended is None else _utc(e.ended), "alertname": e.alertname,
            "department": e.label("department"), "site": e.label("site"),
            "severity": e.label("severity"), "labels": e.labels_json, "summary": e.summary,
            "source": e.source, "recorded_by": by, "first_seen": now, "last_seen": now}


def _episode(r: Any) -> Episode:
    started = aware(r.started_at)
    assert started is not None
    return Episode(r.fingerprint, started, aware(r.ended_at), r.alertname,
                   json.loads(r.labels), r.summary, r.source)


def fired_between(conn: Connection, start: dt.datetime, end: dt.datetime) -> list[Episode]:
    """The episodes that fired at some moment of [start, end), by start."""
    tbl = _table()
    query = (select(tbl).where(tbl.c.started_at < _utc(end),
                               or_(tbl.c.ended_at.is_(None), tbl.c.ended_at > _utc(start)))
             .order_by(tbl.c.started_at, tbl.c.fingerprint))
    return [_episode(r) for r in conn.execute(query)]


def first_told(conn: Connection) -> dt.datetime | None:
    """When govcloud was first told of an alert (None: never)."""
    tbl = _table()
    return aware(conn.execute(select(func.min(tbl.c.first_seen))).scalar_one())


def episode(conn: Connection, fingerprint: str, started: dt.datetime) -> Episode | None:
    tbl = _table()
    row = conn.execute(select(tbl).where(tbl.c.fingerprint == fingerprint,
                                         tbl.c.started_at == _utc(started))).first()
    return None if row is None else _episode(row)


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(_table())).scalar_one())
