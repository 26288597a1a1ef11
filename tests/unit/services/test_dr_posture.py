"""The DR posture from a seeded store (a fresh SQLite file, and a PostgreSQL schema when
GOVCLOUD_TEST_DATABASE_URL is set): systems from provisioning requests, their copies from the
synced servers of the DR sites, recovery points and drills from the protection tables —
each verdict, its reasons, and the totals per department, city and province."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, event, insert

from govcloud.domain.protection import Compliance, CopyState
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.domain.recovery import DrillResult, PointStatus
from govcloud.services.dr_posture import Posture, SystemPosture, Totals, dr_posture
from govcloud.store import inventory as inv
from govcloud.store.engine import write_begin
from tests.unit.services.dr_seed import (
    NOW,
    SITES,
    drill,
    point,
    protected,
    request,
    server,
)


def row(posture: Posture, department: str, system: str) -> SystemPosture:
    (found,) = [s for s in posture.systems if (s.department, s.system) == (department, system)]
    return found


def posture(engine: Engine, **kwargs: object) -> Posture:
    return dr_posture(engine, DEFAULT_PROTECTION, SITES, NOW, **kwargs)  # type: ignore[arg-type]


def seed_cities(conn: Connection) -> None:
    conn.execute(insert(inv.table("department_site")), [
        {"department": d, "site": "PROD", "project_id": f"p-{d}", "project_name": d,
         "city": c}
        for d, c in (("gd-psd", None), ("gz-gov", "guangzhou"), ("gz-water", "guangzhou"),
                     ("sz-gov", "shenzhen"))])


def test_a_fully_protected_system_is_compliant_and_says_why(db: Engine) -> None:
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "case")
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.COMPLIANT
    assert got.verdict.reasons == ("2 copies within RPO 30m; last drill 2026-10-01 passed",)
    assert got.level == 5 and got.plan is not None
    assert [(c.site, c.state, c.rpo) for c in got.verdict.copies] == [
        ("DR-LOCAL", CopyState.PRESENT, timedelta(minutes=10)),
        ("DR-REMOTE", CopyState.PRESENT, timedelta(minutes=10))]
    assert sorted(p.server_id for p in got.points) == sorted(ids.values())
    assert [m.name for m in got.members] == ["case-vm-1", "case-vm-2"]


def test_a_missing_copy_is_non_compliant(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case", skip=("DR-REMOTE", "case-vm-2"))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons[0] == "DR-REMOTE (cold copy): 1 of 2 servers missing (case-vm-2)"
    assert [c.state for c in got.verdict.copies] == [CopyState.PRESENT, CopyState.MISSING]


def test_a_deleted_copy_server_is_missing(db: Engine) -> None:
    with write_begin(db) as conn:
        request(conn, "gd-psd", "case", servers=1)
        server(conn, "PROD", "gd-psd", "case-vm-1")
        local = server(conn, "DR-LOCAL", "gd-psd", "case-vm-1", deleted=True)
        point(conn, "gd-psd", "case", "DR-LOCAL", local, timedelta(minutes=1))
        remote = server(conn, "DR-REMOTE", "gd-psd", "case-vm-1", status="SHELVED_OFFLOADED")
        point(conn, "gd-psd", "case", "DR-REMOTE", remote, timedelta(minutes=1))
        drill(conn, "gd-psd", "case", datetime(2026, 10, 1, tzinfo=UTC))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    # its point does not count: the copy is missing and has no recovery point
    assert got.verdict.reasons == ("DR-LOCAL (hot copy): 1 of 1 servers missing (case-vm-1)",
                                   "DR-LOCAL (hot copy): no recovery point yet")


def test_a_cold_copy_running_is_at_risk(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case", statuses={"DR-REMOTE": "ACTIVE"})
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.AT_RISK
    assert got.verdict.copies[1].state is CopyState.HOLDS_CAPACITY
    assert "holding compute capacity" in got.verdict.reasons[0]


def test_a_copy_of_another_flavor_than_production_reports_is_non_compliant(db: Engine) -> None:
    """Production resized its server: the copy must follow the flavor production reports."""
    with write_begin(db) as conn:
        request(conn, "gd-psd", "case", level=4, servers=1)
        server(conn, "PROD", "gd-psd", "case-vm-1", flavor="gc.c8m16")
        sid = server(conn, "DR-REMOTE", "gd-psd", "case-vm-1", status="SHELVED_OFFLOADED")
        point(conn, "gd-psd", "case", "DR-REMOTE", sid, timedelta(hours=1))
        drill(conn, "gd-psd", "case", datetime(2026, 10, 1, tzinfo=UTC))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons == (
        "DR-REMOTE (cold copy): 1 of 1 servers of the wrong flavor (case-vm-1 is gc.c4m8, not "
        "gc.c8m16)",)


def test_an_rpo_breach_counts_the_stalest_server_of_a_copy(db: Engine) -> None:
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "case")
        # case-vm-2's DR-LOCAL copy last synced 45 minutes ago; vm-1's is 10 minutes old
        point(conn, "gd-psd", "case", "DR-LOCAL", ids["DR-LOCAL/case-vm-2"], timedelta(0),
              PointStatus.FAILED)
    with write_begin(db) as conn:
        request(conn, "gd-psd", "stale", servers=2)
        for n in (1, 2):
            server(conn, "PROD", "gd-psd", f"stale-vm-{n}")
            remote = server(conn, "DR-REMOTE", "gd-psd", f"stale-vm-{n}",
                            status="SHELVED_OFFLOADED")
            point(conn, "gd-psd", "stale", "DR-REMOTE", remote, timedelta(minutes=5))
            local = server(conn, "DR-LOCAL", "gd-psd", f"stale-vm-{n}")
            point(conn, "gd-psd", "stale", "DR-LOCAL", local,
                  timedelta(minutes=45 if n == 2 else 10))
        drill(conn, "gd-psd", "stale", datetime(2026, 10, 1, tzinfo=UTC))
    result = posture(db)
    assert row(result, "gd-psd", "case").verdict.status is Compliance.COMPLIANT
    stale = row(result, "gd-psd", "stale")
    assert stale.verdict.status is Compliance.NON_COMPLIANT
    assert stale.verdict.copies[0].rpo == timedelta(minutes=45)
    assert stale.verdict.reasons == (
        "DR-LOCAL (hot copy): RPO 45m against a target of 30m (last recovery point "
        "2026-12-07T11:15:00+00:00): breached",)


def test_a_system_never_drilled_is_overdue_once_its_first_drill_was_due(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "new", drilled=None)                 # since 2026-09-01
        request(conn, "gd-psd", "old", level=4, servers=1,
                created=datetime(2025, 11, 1, tzinfo=UTC))             # yearly: due 2026-11-01
        server(conn, "PROD", "gd-psd", "old-vm-1")
        sid = server(conn, "DR-REMOTE", "gd-psd", "old-vm-1", status="SHELVED_OFFLOADED")
        point(conn, "gd-psd", "old", "DR-REMOTE", sid, timedelta(hours=2))
    result = posture(db)
    assert row(result, "gd-psd", "new").verdict.status is Compliance.COMPLIANT
    assert row(result, "gd-psd", "new").verdict.reasons == (
        "2 copies within RPO 30m; first drill not yet due",)
    old = row(result, "gd-psd", "old")
    assert old.verdict.status is Compliance.NON_COMPLIANT
    assert old.verdict.reasons == ("drill overdue: a drill was due on 2026-11-01 (every 12 "
                                   "months)",)


def test_a_failed_last_drill_is_non_compliant(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case")
        drill(conn, "gd-psd", "case", datetime(2026, 11, 20, tzinfo=UTC), passed=False)
    got = row(posture(db), "gd-psd", "case")
    assert got.last_drill is not None and got.last_drill.result is DrillResult.FAILED
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons == ("the last drill (2026-11-20) failed",)


def test_a_failed_cycle_keeps_the_last_good_point(db: Engine) -> None:
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "case", age=timedelta(minutes=20))
        for key, sid in ids.items():
            site = key.split("/")[0]
            point(conn, "gd-psd", "case", site, sid, timedelta(minutes=2), PointStatus.FAILED)
            point(conn, "gd-psd", "case", site, sid, timedelta(minutes=1), PointStatus.PARTIAL)
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.COMPLIANT
    assert [c.recovery_point for c in got.verdict.copies] == [NOW - timedelta(minutes=20)] * 2
    assert {p.status for p in got.points} == {PointStatus.OK}


def test_a_copy_server_with_only_failed_cycles_has_no_recovery_point(db: Engine) -> None:
    with write_begin(db) as conn:
        request(conn, "gd-psd", "case", level=4, servers=1)
        server(conn, "PROD", "gd-psd", "case-vm-1")
        sid = server(conn, "DR-REMOTE", "gd-psd", "case-vm-1", status="SHELVED_OFFLOADED")
        point(conn, "gd-psd", "case", "DR-REMOTE", sid, timedelta(minutes=1),
              PointStatus.FAILED)
        drill(conn, "gd-psd", "case", datetime(2026, 10, 1, tzinfo=UTC))
    got = row(posture(db), "gd-psd", "case")
    assert got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons == ("DR-REMOTE (cold copy): no recovery point yet",)
    assert got.points == ()


def test_systems_come_from_live_requests_at_their_highest_level(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case", servers=1)
        request(conn, "gd-psd", "case", level=4, servers=1)        # an older level: max wins
        request(conn, "gd-psd", "draft", state="submitted")
        request(conn, "gd-psd", "dropped", state="cancelled")
        request(conn, "gd-psd", "building", level=1, state="provisioning")
    result = posture(db)
    assert [(s.system, s.level) for s in result.systems] == [("building", 1), ("case", 5)]
    building = row(result, "gd-psd", "building")
    assert building.verdict.status is Compliance.COMPLIANT
    assert building.verdict.reasons == ("DR level 1 keeps no copy outside production; no "
                                        "drill required",)


def test_a_level_whose_sites_are_not_configured_is_non_compliant(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case")
    result = dr_posture(db, DEFAULT_PROTECTION, SITES[:2], NOW)    # no remote-dr site
    got = row(result, "gd-psd", "case")
    assert got.plan is None and got.verdict.status is Compliance.NON_COMPLIANT
    assert got.verdict.reasons == ("gd-psd/case: DR level 5 keeps a cold copy in a remote-dr "
                                   "site, and no such site is configured",)


def test_totals_per_department_city_and_province_and_the_filters(db: Engine) -> None:
    with write_begin(db) as conn:
        seed_cities(conn)
        protected(conn, "gd-psd", "case")                                   # compliant
        protected(conn, "gz-gov", "portal")                                 # compliant
        protected(conn, "gz-gov", "mail", statuses={"DR-REMOTE": "ACTIVE"})  # at risk
        protected(conn, "gz-water", "meter", skip=("DR-LOCAL", "meter-vm-1"))  # non-compliant
        protected(conn, "sz-gov", "portal", age=timedelta(hours=2))         # non-compliant
    result = posture(db)
    assert result.province == Totals(compliant=2, at_risk=1, non_compliant=2)
    assert result.province.systems == 5
    assert result.departments == {"gd-psd": Totals(1, 0, 0), "gz-gov": Totals(1, 1, 0),
                                  "gz-water": Totals(0, 0, 1), "sz-gov": Totals(0, 0, 1)}
    assert result.cities == {"guangzhou": Totals(1, 1, 1), "shenzhen": Totals(0, 0, 1)}
    assert row(result, "gz-water", "meter").city == "guangzhou"
    assert row(result, "gd-psd", "case").city is None

    guangzhou = posture(db, city="guangzhou")
    assert {s.department for s in guangzhou.systems} == {"gz-gov", "gz-water"}
    assert guangzhou.province == Totals(1, 1, 1)
    only = posture(db, departments=["sz-gov", "gd-psd"])
    assert [(s.department, s.system) for s in only.systems] == [("gd-psd", "case"),
                                                               ("sz-gov", "portal")]
    assert posture(db, departments=["gd-psd"], city="guangzhou").systems == ()
    # the catalogue's city wins over the inventory's mapping
    moved = posture(db, cities={"sz-gov": "guangzhou"})
    assert moved.cities == {"guangzhou": Totals(1, 1, 2)}


@pytest.mark.parametrize("servers", [1, 3])
def test_reading_is_a_fixed_number_of_queries(db: Engine, servers: int) -> None:
    with write_begin(db) as conn:
        for i in range(servers):
            protected(conn, "gd-psd", f"sys{i}", servers=servers)
    seen: list[str] = []

    def count_statement(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(db, "before_cursor_execute", count_statement)
    try:
        result = posture(db)
    finally:
        event.remove(db, "before_cursor_execute", count_statement)
    assert len(result.systems) == servers
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 8


def test_the_posture_as_of_a_moment_gone_reads_only_what_was_known_then(db: Engine) -> None:
    """The scorecard's DR posture of a month that is over: the systems requested, recovery
    points taken and drills held before the month's end (the servers as last synced)."""
    end = datetime(2026, 12, 1, tzinfo=UTC)
    with write_begin(db) as conn:
        ids = protected(conn, "gd-psd", "case")  # its newest points: December
        for key, sid in ids.items():
            site = key.split("/")[0]
            point(conn, "gd-psd", "case", site, sid, NOW - end + timedelta(minutes=20))
            point(conn, "gd-psd", "case", site, sid, NOW - end + timedelta(minutes=5),
                  PointStatus.FAILED)  # a failed cycle: the good point before it counts
        request(conn, "gd-tax", "late", created=end + timedelta(days=2))  # asked later
        drill(conn, "gd-psd", "case", end + timedelta(days=1), passed=False)  # held later
    past = dr_posture(db, DEFAULT_PROTECTION, SITES, end, past=True)
    assert [(s.department, s.system) for s in past.systems] == [("gd-psd", "case")]
    got = row(past, "gd-psd", "case")
    assert got.verdict.status is Compliance.COMPLIANT
    assert [c.rpo for c in got.verdict.copies] == [timedelta(minutes=20)] * 2
    assert got.last_drill is not None and got.last_drill.at == datetime(2026, 10, 1, tzinfo=UTC)
    now = posture(db)  # as of now: the later system, point and drill count
    assert {s.system for s in now.systems} == {"case", "late"}
    case = row(now, "gd-psd", "case")
    assert case.last_drill is not None and case.last_drill.result is DrillResult.FAILED
    assert [c.rpo for c in case.verdict.copies] == [timedelta(minutes=10)] * 2
