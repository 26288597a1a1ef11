"""Metering in a real database (a fresh SQLite file, and a PostgreSQL schema when
GOVCLOUD_TEST_DATABASE_URL is set): a sync's hour is one row per group, never per server, and
replaces an earlier reading of the hour; a failed sync records a gap unless the hour was read;
a backfill is deterministic; price sheets move once from proposed to approved and are never
edited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from govcloud.domain.metering import (
    HourState,
    Month,
    Resource,
    SiteHour,
    UsageKind,
    backfill_site,
)
from govcloud.domain.prices import PriceSheet, SheetState, Unit
from govcloud.domain.sites import SiteRole
from govcloud.errors import ConflictError, NotFound
from govcloud.store import metering_repo as repo
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table

NOV = Month(2026, 11)
T = dt.datetime(2026, 11, 3, 10, 20, tzinfo=dt.UTC)
HOUR = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)


def srv(sid: str, department: str | None, *, status: str = "ACTIVE", flavor: str = "m1.small",
        site: str = "PROD", created: dt.datetime = NOV.start - dt.timedelta(days=1),
        deleted: dt.datetime | None = None) -> dict[str, Any]:
    return {"site": site, "id": sid, "name": f"vm-{sid}", "project_id": f"p-{department}",
            "department": department, "status": status, "flavor_name": flavor, "vcpus": 1,
            "ram_mb": 1536, "disk_gb": 20, "ephemeral_gb": 0, "created": created,
            "updated": created, "deleted_at": deleted}


def add(engine: Engine, name: str, rows: list[dict[str, Any]]) -> None:
    with write_begin(engine) as conn:
        conn.execute(insert(table(name)), rows)


def rows_of(engine: Engine, start: dt.datetime = NOV.start) -> dict[tuple[str, ...], Decimal]:
    with engine.connect() as conn:
        return {(r.department, r.site, r.flavor, r.kind.value, r.resource.value): r.quantity
                for r in repo.usage_rows(conn, start, NOV.end)}


def test_a_sync_hour_is_one_row_per_group_and_replaces_the_hours_reading(db: Engine) -> None:
    add(db, "server", [srv(f"s{i}", "gd-tax") for i in range(50)]
        + [srv("c1", "gd-tax", status="SHELVED_OFFLOADED", site="DR-REMOTE"),
           srv("x", None, flavor="m1.large"), srv("gone", "gd-tax", deleted=T)])
    add(db, "volume", [{"site": "PROD", "id": "v1", "project_id": "p", "department": "gd-tax",
                        "size_gb": 100, "status": "in-use"}])
    with write_begin(db) as conn:
        assert repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, T) == 11
        assert repo.record_site_hour(conn, "DR-REMOTE", SiteRole.REMOTE_DR, T) == 5
    got = rows_of(db)
    assert got[("gd-tax", "PROD", "m1.small", "primary", "servers")] == 50
    assert got[("gd-tax", "PROD", "m1.small", "primary", "ram_gib")] == Decimal("75")
    assert got[("gd-tax", "DR-REMOTE", "m1.small", "cold", "ram_gib")] == Decimal("1.5")
    assert got[("", "PROD", "m1.large", "primary", "vcpu")] == 1
    assert got[("gd-tax", "PROD", "", "primary", "volume_gb")] == 100
    assert got[("gd-tax", "PROD", "m1.small", "primary", "active")] == 50
    assert got[("gd-tax", "DR-REMOTE", "m1.small", "cold", "active")] == 0
    with db.connect() as conn:  # 16 rows for 53 servers: never a row per server
        assert conn.execute(select(func.count()).select_from(table("usage_hour"))).scalar() == 16
    add(db, "server", [srv("late", "gd-tax")])
    with write_begin(db) as conn:  # a later sync in the same hour: the last reading counts
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, T + dt.timedelta(minutes=30))
    assert rows_of(db)[("gd-tax", "PROD", "m1.small", "primary", "servers")] == 51
    assert len(rows_of(db)) == 16


def test_a_later_reading_writes_only_what_changed_and_equals_a_fresh_one(
        db: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hour's second reading deletes the rows whose key vanished, updates those whose
    quantity changed and inserts the new ones, nothing else; the hour then holds what a first
    reading of the same servers in another hour holds."""
    add(db, "server", [srv(f"t{i}", "gd-tax") for i in range(3)]
        + [srv("e1", "gd-edu", flavor="m1.large")])
    with write_begin(db) as conn:
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, T)
    with write_begin(db) as conn:
        server = table("server")
        conn.execute(server.update().where(server.c.id.in_(["e1", "t0"])).values(deleted_at=T))
        conn.execute(insert(server), [srv("h1", "gd-health")])
    written: list[tuple[str, int]] = []
    real = repo.write_all

    def spy(conn: Any, operations: Any) -> None:
        written.extend((type(op).__name__, len(op.rows)) for op in operations)
        real(conn, operations)

    monkeypatch.setattr(repo, "write_all", spy)
    later, fresh = T + dt.timedelta(minutes=30), T + dt.timedelta(hours=5)
    with write_begin(db) as conn:
        assert repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, later) == 10
    assert written == [("Delete", 5), ("Update", 5), ("Insert", 5)]
    with write_begin(db) as conn:
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, fresh)
    with db.connect() as conn:
        rows = repo.usage_rows(conn, NOV.start, NOV.end)
    by_hour: dict[dt.datetime, set[tuple[object, ...]]] = {}
    for r in rows:
        by_hour.setdefault(r.hour, set()).add((r.department, r.flavor, r.kind, r.resource,
                                               r.quantity))
    assert by_hour[HOUR] == by_hour[HOUR + dt.timedelta(hours=5)]
    assert len(by_hour[HOUR]) == 10
    assert ("gd-tax", "m1.small", UsageKind.PRIMARY, Resource.SERVERS, 2) in by_hour[HOUR]


def test_a_failed_sync_is_a_gap_unless_the_hour_was_read(db: Engine) -> None:
    with write_begin(db) as conn:
        repo.record_gap(conn, "PROD", T, "HTTP 503\nfrom nova")
        repo.record_site_hour(conn, "DR-LOCAL", SiteRole.SAME_CITY_DR, T)
        repo.record_gap(conn, "DR-LOCAL", T + dt.timedelta(minutes=5), "timeout")
    with db.connect() as conn:
        assert repo.site_hours(conn, NOV.start, NOV.end) == [
            SiteHour(HOUR, "DR-LOCAL", HourState.READ),
            SiteHour(HOUR, "PROD", HourState.GAP, "HTTP 503 from nova")]
    with write_begin(db) as conn:  # read later in the hour: no longer a gap
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, T + dt.timedelta(minutes=10))
    with db.connect() as conn:
        assert {h.state for h in repo.site_hours(conn, NOV.start, NOV.end)} == {HourState.READ}


def test_a_backfill_from_the_store_gives_the_same_figures_twice(db: Engine) -> None:
    add(db, "server", [srv("a", "gd-tax"),
                       srv("b", "gd-tax", created=HOUR + dt.timedelta(minutes=5),
                           deleted=HOUR + dt.timedelta(hours=2, minutes=1))])
    add(db, "capacity_sample", [{"site": "PROD", "at": HOUR + dt.timedelta(hours=h, minutes=7)}
                                for h in range(4)])
    figures = []
    for _ in range(2):
        with write_begin(db) as conn:
            hours = repo.read_hours(conn, "PROD", NOV)
            rows = backfill_site(NOV, "PROD", SiteRole.PRODUCTION, hours,
                                 repo.server_spans(conn, "PROD", NOV),
                                 repo.volume_groups(conn, "PROD"))
            repo.replace_month(conn, "PROD", NOV, rows, hours, at=T)
        with db.connect() as conn:
            figures.append(repo.usage_rows(conn, NOV.start, NOV.end))
    assert figures[0] == figures[1]
    servers = {r.hour - HOUR: r.quantity for r in figures[0] if r.resource is Resource.SERVERS}
    assert servers == {dt.timedelta(hours=0): 2, dt.timedelta(hours=1): 2,
                       dt.timedelta(hours=2): 2, dt.timedelta(hours=3): 1}
    with db.connect() as conn:
        assert {h.hour - HOUR for h in repo.site_hours(conn, NOV.start, NOV.end)} == {
            dt.timedelta(hours=h) for h in range(4)}
        only = repo.usage_rows(conn, NOV.start, NOV.end, departments=["gd-psd"])
    assert only == [] and all(r.kind is UsageKind.PRIMARY for r in figures[0])


SHEET = PriceSheet("2026.1", dt.date(2026, 1, 1), "CNY",
                   dict.fromkeys(Unit, Decimal("0.1")), effective_until=dt.date(2026, 12, 31))


def test_a_sheet_is_approved_once_and_never_edited(db: Engine) -> None:
    with write_begin(db) as conn:
        stored = repo.add_sheet(conn, SHEET, "version: 2026.1\n", by="ana", person="Ana", at=T)
    assert (stored.state, stored.proposed_by, stored.effective_until) == (
        SheetState.PROPOSED, "ana", dt.date(2026, 12, 31))
    assert stored.digest == repo.document_digest("version: 2026.1\n")
    with write_begin(db) as conn:
        approved = repo.approve_sheet(conn, "2026.1", by="bo", person="Bo", at=T)
    assert (approved.state, approved.approved_by) == (SheetState.APPROVED, "bo")
    assert approved.state_on(dt.date(2026, 11, 1)) is SheetState.EFFECTIVE
    assert approved.state_on(dt.date(2025, 11, 1)) is SheetState.APPROVED
    with pytest.raises(ConflictError, match="already approved"), write_begin(db) as conn:
        repo.approve_sheet(conn, "2026.1", by="cy", person="Cy", at=T)
    with pytest.raises(ConflictError, match="already exists"), write_begin(db) as conn:
        repo.add_sheet(conn, SHEET, "version: 2026.1\n# edited\n", by="ana", person="Ana", at=T)
    with pytest.raises(NotFound), write_begin(db) as conn:
        repo.approve_sheet(conn, "2099.1", by="bo", person="Bo", at=T)
    with db.connect() as conn:
        (kept,) = repo.list_sheets(conn)
        assert repo.list_sheets(conn, states=[SheetState.PROPOSED]) == []
    assert (kept.approved_by, kept.approved_by_person, kept.proposed_by_person,
            kept.document) == ("bo", "Bo", "Ana", "version: 2026.1\n")
