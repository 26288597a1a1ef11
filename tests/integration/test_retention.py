"""Compaction on SQLite and PostgreSQL with an injected clock: progress events, delivered
notifications, capacity samples, tombstones and alert episodes (by when they ended; one still
firing stays) older than the retention policy go (samples
first thinned to one an hour), everything recent stays, and the audit log — keyed with a MAC,
entries older than every retention among them — is untouched and still verifies, with the
compaction itself recorded in it. ``--dry-run`` counts the same rows and deletes none."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from govcloud.domain.audit_signing import AuditKey
from govcloud.domain.retention import RetentionPolicy
from govcloud.services.retention import compact
from govcloud.store import server_changes
from govcloud.store.audit import AuditLog, append_committed, keyed
from govcloud.store.engine import write_begin
from govcloud.store.tables import metadata
from tests.databases import T0

NOW = T0 + dt.timedelta(days=800)
POLICY = RetentionPolicy(events_days=90, notifications_days=90, samples_days=30,
                         sample_hours_days=400, tombstone_days=30, alerts_days=400)


def ago(days: float, minutes: float = 0) -> dt.datetime:
    return NOW - dt.timedelta(days=days, minutes=minutes)


def count(engine: Engine, name: str, **where: Any) -> int:
    tbl = metadata.tables[name]
    q = select(func.count()).select_from(tbl)
    for column, value in where.items():
        q = q.where(tbl.c[column] == value)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def server(site: str, sid: str, deleted_at: dt.datetime | None) -> dict[str, Any]:
    return {"site": site, "id": sid, "name": sid, "project_id": "p", "department": "gd-psd",
            "status": "ACTIVE", "created": ago(700), "updated": ago(700),
            "deleted_at": deleted_at, "change_seq": None}


def seed(engine: Engine) -> None:
    """Old and recent rows of every kind the compaction looks at."""
    with write_begin(engine) as conn:
        for name in ("provision_event", "host_drain_event"):
            owner = "request_id" if name == "provision_event" else "drain_id"
            conn.execute(insert(metadata.tables[name]), [
                {owner: 1, "at": at, "kind": "note", "message": "m"}
                for at in (ago(200), ago(91), ago(89), ago(1))])
        conn.execute(insert(metadata.tables["migration_event"]), [
            {"wave": "w1", "step": "copy", "ident": "i", "at": at, "event": "ok"}
            for at in (ago(120), ago(10))])
        conn.execute(insert(metadata.tables["notification"]), [
            {"event": "e", "ref": "r", "department": "gd-psd", "channel": "email",
             "recipient": "a@example.org", "payload": "{}", "state": state, "attempts": 1,
             "next_attempt_at": at, "created_at": at, "updated_at": at}
            for state, at in (("sent", ago(100)), ("dead", ago(95)), ("pending", ago(100)),
                              ("sent", ago(5)))])
        samples = [(site, ago(days, minutes)) for site in ("PROD", "DR-LOCAL")
                   for days in (500, 450) for minutes in (0, 1)]       # past the hourly: all go
        samples += [(site, ago(40, minutes)) for site in ("PROD", "DR-LOCAL")
                    for minutes in (10, 20, 30, 40)]                   # one an hour stays
        samples += [(site, ago(2, minutes)) for site in ("PROD", "DR-LOCAL")
                    for minutes in (10, 20, 30)]                       # recent: all stay
        conn.execute(insert(metadata.tables["capacity_sample"]),
                     [{"site": s, "at": at} for s, at in samples])
        server_changes.upsert_servers_changed(conn, [
            server("PROD", "gone-long-ago", ago(40)), server("PROD", "gone-lately", ago(3)),
            server("DR-LOCAL", "gone-long-ago-2", ago(31)), server("PROD", "alive", None)])
        server_changes.stamp(conn)
        conn.execute(insert(metadata.tables["alert_episode"]), [
            {"fingerprint": f"{i:016x}", "started_at": start, "ended_at": end,
             "alertname": "GovcloudDrRpoBreached", "department": "", "site": "", "severity": "",
             "labels": "{}", "summary": "", "source": "alertmanager", "recorded_by": "am",
             "first_seen": start, "last_seen": end or start}
            for i, (start, end) in enumerate(((ago(600), ago(500)),     # ended long ago: goes
                                              (ago(600), None),          # still firing: stays
                                              (ago(450), ago(399))))])   # ended lately: stays


def test_compaction_keeps_recent_rows_and_the_audit_chain(engine: Engine) -> None:
    key = AuditKey(os.urandom(32))
    audited = keyed(engine, key)
    for days in (700, 400, 200, 100, 1):  # the audit log is older than any retention
        append_committed(audited, actor="someone", action="tenancy.apply",
                         target="department:gd-psd", after={"days": days},
                         clock=lambda d=days: ago(d))  # type: ignore[misc]
    seed(engine)
    expected = {"provision_event": 2, "host_drain_event": 2, "migration_event": 1,
                "notification": 2, "capacity_sample": 8, "capacity_sample_thinned": 6,
                "server_tombstone": 2, "alert_episode": 1}

    dry = compact(audited, policy=POLICY, now=NOW, dry_run=True)
    assert dry.removed == expected and dry.dry_run
    assert count(engine, "capacity_sample") == 8 + 8 + 6  # nothing deleted
    assert count(engine, "audit_entry") == 5  # and nothing audited

    with engine.connect() as conn:
        before = server_changes.head(conn)
    done = compact(audited, policy=POLICY, now=NOW)
    assert done.removed == expected and not done.dry_run
    assert (count(engine, "provision_event"), count(engine, "host_drain_event"),
            count(engine, "migration_event")) == (2, 2, 1)
    assert count(engine, "notification", state="pending") == 1  # undelivered: kept
    assert count(engine, "notification", state="sent") == 1
    assert count(engine, "capacity_sample") == 2 + 6  # one an hour per site, and the recent
    with engine.connect() as conn:
        ids = {r[0] for r in conn.execute(select(metadata.tables["server"].c.id))}
        after = server_changes.head(conn)
    assert ids == {"gone-lately", "alive"}
    assert count(engine, "alert_episode") == 2
    # the purged deletions can no longer be listed as changes: older cursors go full
    assert after.horizon == before.seq > before.horizon

    # the audit log: untouched, verifies with every MAC, and records the compaction
    with Session(audited) as session:
        log = AuditLog(session=session)
        result = log.verify()
        entries = list(log.iter_entries())
    assert result.ok, result.describe()
    assert len(entries) == 6 and entries[-1].action == "retention.compact"
    assert entries[-1].after is not None and entries[-1].after["removed"] == expected

    again = compact(audited, policy=POLICY, now=NOW)  # nothing left to remove: not audited
    assert again.total == 0
    assert count(engine, "audit_entry") == 6


def test_a_batch_smaller_than_the_rows_still_removes_them_all(engine: Engine) -> None:
    seed(engine)
    done = compact(engine, policy=POLICY, now=NOW, batch=1)
    assert done.removed["provision_event"] == 2 and count(engine, "provision_event") == 2
    assert done.removed["capacity_sample_thinned"] == 6
    assert count(engine, "capacity_sample") == 8


def test_admin_compact_reports_and_records(database_url: str, engine: Engine, tmp_path: Any,
                                           capsys: Any, monkeypatch: Any) -> None:
    """``govcloud admin compact``: ``--dry-run --json`` counts, the real run deletes and
    records itself in the (keyed) audit log, which still verifies."""
    import json

    from govcloud.cli import main

    monkeypatch.setenv("GOVCLOUD_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    with write_begin(engine) as conn:  # a request event of long ago, by today's clock
        conn.execute(insert(metadata.tables["provision_event"]).values(
            request_id=1, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=400), kind="note",
            message="old"))
    assert main(["admin", "compact", "--database-url", database_url, "--dry-run",
                 "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["removed"]["provision_event"] == 1
    assert count(engine, "provision_event") == 1
    assert main(["admin", "compact", "--database-url", database_url]) == 0
    out = capsys.readouterr().out
    assert "removed 1 rows" in out and "never compacted" in out
    assert count(engine, "provision_event") == 0
    from govcloud.services.audit_anchor import read_key
    with Session(keyed(engine, read_key(tmp_path / "audit.key"))) as session:
        log = AuditLog(session=session)
        assert log.verify().ok
        assert [e.action for e in log.iter_entries()] == ["retention.compact"]
