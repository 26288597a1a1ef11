"""The alert history in a real database (a fresh SQLite file, and a PostgreSQL schema when
GOVCLOUD_TEST_DATABASE_URL is set): recording is idempotent, an end is set once and never
moved, and the episodes that fired in a window are read back as they were told."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from govcloud.domain.alert_history import Episode, fingerprint
from govcloud.store import alerts_repo as repo
from govcloud.store.engine import write_begin

T = dt.datetime(2026, 11, 10, 8, 0, 0, 123456, tzinfo=dt.UTC)
LABELS = {"alertname": "GovcloudDrCopyMissing", "department": "gd-psd", "site": "DR-LOCAL"}


def ep(end: dt.datetime | None = None, start: dt.datetime = T) -> Episode:
    return Episode(fingerprint(LABELS), start, end, LABELS["alertname"], LABELS, "copy gone")


def record(db: Engine, *episodes: Episode) -> repo.Recorded:
    with write_begin(db) as conn:
        return repo.record(conn, list(episodes), by="alertmanager", at=T + dt.timedelta(hours=1))


def test_recording_is_idempotent_and_an_end_is_set_once(db: Engine) -> None:
    end = T + dt.timedelta(minutes=20)
    assert record(db, ep()) == repo.Recorded(1, 0, 0)
    assert record(db, ep()) == repo.Recorded(0, 0, 1)
    assert record(db, ep(end)) == repo.Recorded(0, 1, 0)
    assert record(db, ep(end)) == repo.Recorded(0, 0, 1)
    assert record(db, ep(end + dt.timedelta(hours=1))) == repo.Recorded(0, 0, 1)  # not moved
    assert record(db, ep()) == repo.Recorded(0, 0, 1)  # a late firing repeat: not reopened
    # in another timezone the same instant is the same episode
    assert record(db, ep(start=T.astimezone(dt.timezone(dt.timedelta(hours=8))))).new == 0
    with db.connect() as conn:
        (got,) = repo.fired_between(conn, T, T + dt.timedelta(days=1))
        assert repo.count(conn) == 1
        assert repo.first_told(conn) == T + dt.timedelta(hours=1)
    assert (got.started, got.ended, got.labels, got.summary) == (T, end, LABELS, "copy gone")


def test_only_the_episodes_of_the_window_are_read(db: Engine) -> None:
    day = dt.timedelta(days=1)
    record(db, ep(T + dt.timedelta(hours=1)), ep(None, T + 2 * day),
           ep(T - day + dt.timedelta(hours=1), T - day))
    with db.connect() as conn:
        got = repo.fired_between(conn, T, T + day)
    assert [(e.started, e.ended) for e in got] == [(T, T + dt.timedelta(hours=1))]
