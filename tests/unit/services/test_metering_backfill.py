"""``govcloud report backfill`` as a service, on a real store (SQLite, and PostgreSQL when
GOVCLOUD_TEST_DATABASE_URL is set): it fills the hours a site was read in but that hold no
sync reading, from the servers' lifetimes, and flags them filled; a sync's reading is never
replaced; an hour nobody read stays a gap; running it again gives the same figures; each site
filled is audited; bad input (``--to`` not after ``--from``, a stretch too long or in the
future, an unknown site, a closed month, a role without the right) changes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from sqlmodel import Session

from govcloud.domain.audit import AuditEntry
from govcloud.domain.metering import HourState, Month, Resource
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.statements import MonthClosed
from govcloud.errors import Forbidden, InvalidInput, NotFound
from govcloud.services import metering
from govcloud.store import metering_repo as repo
from govcloud.store import statements_repo
from govcloud.store.audit import AuditLog
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table

NOV = Month(2026, 11)
H0 = dt.datetime(2026, 11, 3, 10, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
AFTER = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
SITES = [Site("PROD", "prod", "RegionOne", SiteRole.PRODUCTION),
         Site("DR-REMOTE", "dr", "RegionOne", SiteRole.REMOTE_DR)]
ADMIN = Principal("admin", Role.BUREAU_ADMIN, person="Admin")


def srv(sid: str, created: dt.datetime, deleted: dt.datetime | None = None) -> dict[str, Any]:
    return {"site": "PROD", "id": sid, "name": f"vm-{sid}", "project_id": "p-tax",
            "department": "gd-tax", "status": "ACTIVE", "flavor_name": "m1.small",
            "vcpus": 2, "ram_mb": 2048, "disk_gb": 20, "ephemeral_gb": 0, "created": created,
            "updated": created, "deleted_at": deleted}


def seed(engine: Engine) -> None:
    """PROD, hours H0..H0+5: H0, H1 and H5 hold a capacity sample but no metering (as before
    metering existed); H2 a sync read; H3 a sync failed; H4 nobody tried. Server a lives
    all month; b from H1 (created 5 past) to H3 (deleted 1 past), already a tombstone when
    H2's sync read the site."""
    with write_begin(engine) as conn:
        conn.execute(insert(table("server")), [
            srv("a", NOV.start - dt.timedelta(days=3)),
            srv("b", H0 + HOUR + dt.timedelta(minutes=5), H0 + 3 * HOUR + dt.timedelta(minutes=1))])
        conn.execute(insert(table("capacity_sample")), [
            {"site": "PROD", "at": H0 + h * HOUR + dt.timedelta(minutes=7)} for h in (0, 1, 2, 5)])
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, H0 + 2 * HOUR + dt.timedelta(
            minutes=7))
        repo.record_gap(conn, "PROD", H0 + 3 * HOUR + dt.timedelta(minutes=7), "timeout")


def run(engine: Engine, start: dt.datetime = H0, end: dt.datetime = H0 + 6 * HOUR, *,
        who: Principal = ADMIN, site: str | None = "PROD",
        now: dt.datetime = AFTER) -> dict[str, Any]:
    return metering.backfill(engine, who, start, end, sites=SITES, site=site,
                             clock=lambda: now)


def servers_per_hour(engine: Engine) -> dict[int, Decimal]:
    with engine.connect() as conn:
        return {int((r.hour - H0) / HOUR): r.quantity
                for r in repo.usage_rows(conn, NOV.start, NOV.end)
                if r.resource is Resource.SERVERS}


def states(engine: Engine) -> dict[int, tuple[HourState, str | None]]:
    with engine.connect() as conn:
        return {int((h.hour - H0) / HOUR): (h.state, h.reason)
                for h in repo.site_hours(conn, NOV.start, NOV.end)}


def audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as session:
        return [e for e in AuditLog(session=session).iter_entries()
                if e.action == "metering.backfill"]


def snapshot(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return (repo.usage_rows(conn, NOV.start, NOV.end),
                repo.site_hours(conn, NOV.start, NOV.end), len(audit(engine)))


def test_it_fills_the_hours_read_without_metering_and_keeps_the_rest(db: Engine) -> None:
    seed(db)
    answer = run(db)
    assert (answer["from"], answer["to"], answer["hours"]) == (
        H0.isoformat(), (H0 + 6 * HOUR).isoformat(), 6)
    (prod,) = answer["sites"]
    assert {k: prod[k] for k in ("site", "filled", "kept", "gaps")} == {
        "site": "PROD", "filled": 3, "kept": 1, "gaps": 2}
    assert [(g["from"], g["hours"], g["reason"]) for g in prod["gap_runs"]] == [
        ((H0 + 3 * HOUR).isoformat(), 1, "timeout"), ((H0 + 4 * HOUR).isoformat(), 1, "no sync")]
    # H0: a; H1: a and b (their lifetimes); H2: the sync's reading (b was a tombstone then),
    # not the lifetimes' 2; H3 and H4 unknown; H5: a
    assert servers_per_hour(db) == {0: 1, 1: 2, 2: 1, 5: 1}
    got = states(db)
    assert {h: s for h, (s, _) in got.items()} == {
        0: HourState.FILLED, 1: HourState.FILLED, 2: HourState.READ, 3: HourState.GAP,
        5: HourState.FILLED}
    assert "backfill" in (got[0][1] or "") and "by admin" in (got[0][1] or "")
    (entry,) = audit(db)
    assert (entry.actor, entry.target) == ("admin", "site:PROD")
    assert entry.after is not None and entry.after["filled"] == 3
    usage = metering.month_usage(db, NOV, ["PROD"], clock=lambda: AFTER)
    assert {int((g.hour - H0) / HOUR) for g in usage.gaps if H0 <= g.hour < H0 + 6 * HOUR} == {
        3, 4}  # filled hours are no gaps on the statements; the unknown ones stay


def test_running_it_again_gives_the_same_figures(db: Engine) -> None:
    seed(db)
    first = run(db)
    rows, hours, _ = snapshot(db)
    again = run(db)
    assert again == first
    assert snapshot(db)[:2] == (rows, hours)
    assert len(audit(db)) == 2  # each run that writes is audited


def test_every_site_and_a_stretch_over_two_months(db: Engine) -> None:
    seed(db)
    with write_begin(db) as conn:  # a DR-REMOTE hour read in October, before metering
        conn.execute(insert(table("capacity_sample")), [
            {"site": "DR-REMOTE", "at": NOV.start - dt.timedelta(minutes=30)}])
    answer = run(db, NOV.start - 2 * HOUR, H0 + 6 * HOUR, site=None)
    by = {s["site"]: s for s in answer["sites"]}
    assert sorted(by) == ["DR-REMOTE", "PROD"]
    assert (by["DR-REMOTE"]["filled"], by["PROD"]["filled"], by["PROD"]["kept"]) == (1, 3, 1)
    assert by["DR-REMOTE"]["rows"] == 0  # nothing lived there: filled, and zero is known
    assert [e.target for e in audit(db)] == ["site:DR-REMOTE", "site:PROD"]
    with db.connect() as conn:
        october = repo.site_hours(conn, NOV.start - HOUR, NOV.start)
    assert [(h.site, h.state) for h in october] == [("DR-REMOTE", HourState.FILLED)]


def test_a_sync_after_a_fill_replaces_it_with_its_reading(db: Engine) -> None:
    seed(db)
    run(db)
    with write_begin(db) as conn:
        repo.record_site_hour(conn, "PROD", SiteRole.PRODUCTION, H0 + dt.timedelta(minutes=50))
        repo.record_gap(conn, "PROD", H0 + HOUR + dt.timedelta(minutes=50), "late failure")
    got = states(db)
    assert got[0] == (HourState.READ, None)  # a reading always wins
    assert got[1][0] is HourState.FILLED  # a failure never hides a known hour


@pytest.mark.parametrize(("start", "end", "site", "error", "match"), [
    (H0, H0, "PROD", InvalidInput, "is not after"),
    (H0, H0 - HOUR, "PROD", InvalidInput, "is not after"),
    (H0, H0 + dt.timedelta(days=31, minutes=1), "PROD", InvalidInput, "longer than"),
    (AFTER, AFTER + 3 * HOUR, "PROD", InvalidInput, "nothing to backfill"),
    (H0, H0 + 6 * HOUR, "NOWHERE", NotFound, "no site 'NOWHERE'"),
    (H0, H0 + 6 * HOUR, "PROD\x1b[2J", NotFound, r"no site 'PROD\\x1b"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(
        db: Engine, start: dt.datetime, end: dt.datetime, site: str,
        error: type[Exception], match: str) -> None:
    seed(db)
    before = snapshot(db)
    with pytest.raises(error, match=match) as info:
        run(db, start, end, site=site)
    assert getattr(info.value, "hint", "")
    assert snapshot(db) == before


def test_31_days_is_the_longest_and_the_current_hour_is_left_to_the_syncs(db: Engine) -> None:
    seed(db)
    answer = run(db, NOV.start, NOV.start + dt.timedelta(days=31), now=H0 + 5 * HOUR
                 + dt.timedelta(minutes=20))
    assert answer["to"] == (H0 + 5 * HOUR).isoformat()  # stops before the current hour
    assert answer["sites"][0]["filled"] == 2  # H0, H1: H5 is the current hour


def test_a_closed_month_and_a_role_without_the_right_are_refused(db: Engine) -> None:
    seed(db)
    before = snapshot(db)
    for role in (Role.OPERATOR, Role.BUREAU_AUDITOR, Role.CI):
        with pytest.raises(Forbidden, match="may not metering.backfill"):
            run(db, who=Principal("someone", role))
    with write_begin(db) as conn:
        statements_repo.close(conn, NOV, {}, digest="sha256:" + "0" * 64, total="0.00",
                              by="admin", person="Admin", at=AFTER)
    with pytest.raises(MonthClosed, match="2026-11 is closed"):
        run(db, NOV.start - HOUR, H0)  # a stretch that reaches into it
    assert snapshot(db) == before
    with db.connect() as conn:
        assert conn.execute(select(table("month_close").c.month)).scalars().all() == ["2026-11"]
