"""Recovery points and drill records in a real database (a fresh SQLite file, and a
PostgreSQL schema when GOVCLOUD_TEST_DATABASE_URL is set): the latest good point of each copy
moves only forward and only with an ok point, the latest of every copy comes from one query,
the last drill per system; and the revision goes down and up again cleanly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect

from govcloud.domain.recovery import (
    Artifact,
    ArtifactKind,
    DrillRecord,
    DrillResult,
    PointKind,
    PointRecord,
    PointStatus,
    manifest_digest,
)
from govcloud.errors import InvalidInput
from govcloud.store.engine import write_begin
from govcloud.store.migrate import alembic_config, upgrade_engine
from govcloud.store.protection_repo import (
    add_drill,
    add_recovery_point,
    cycle_states,
    delete_recovery_points,
    drills,
    last_drills,
    latest_point_id,
    latest_recovery_points,
    recovery_point,
    recovery_points,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def point(minute: int, *, server: str = "srv-1", site: str = "DR-LOCAL",
          status: PointStatus = PointStatus.OK, department: str = "gd-psd",
          system: str = "case", size: int = 10 * 2**30) -> PointRecord:
    return PointRecord(department, system, site, server, T0 + timedelta(minutes=minute),
                       PointKind.VOLUME_SNAPSHOT, size,
                       DIGEST if status is PointStatus.OK else None, status,
                       None if status is PointStatus.OK else "rsync: connection reset")


def add(engine: Engine, *points: PointRecord) -> list[int]:
    with write_begin(engine) as conn:
        return [add_recovery_point(conn, p) for p in points]


def latest(engine: Engine, departments: list[str] | None = None) -> dict[tuple[str, str],
                                                                          datetime]:
    with engine.connect() as conn:
        return {(p.site, p.server_id): p.taken_at
                for p in latest_recovery_points(conn, departments=departments)}


def test_a_point_round_trips_with_every_field(db: Engine) -> None:
    (pid,) = add(db, point(5, size=5 * 2**40))  # 5 TiB: needs a 64-bit column
    with db.connect() as conn:
        (stored,) = latest_recovery_points(conn)
    assert stored == PointRecord("gd-psd", "case", "DR-LOCAL", "srv-1",
                                 T0 + timedelta(minutes=5), PointKind.VOLUME_SNAPSHOT,
                                 5 * 2**40, DIGEST, PointStatus.OK, None, pid)
    assert stored.taken_at.tzinfo is not None


MANIFEST = (("/srv/data/案卷.db", "sha256:" + "01" * 32), ("/etc/app.conf", "sha256:" + "02" * 32))


def test_artifacts_and_the_manifest_round_trip_read_whole_only_by_id(db: Engine) -> None:
    arts = (Artifact(ArtifactKind.BACKUP, "DR-LOCAL", "b-1"),
            Artifact(ArtifactKind.IMAGE, "DR-LOCAL", "img-2"))
    full = PointRecord("gd-psd", "case", "DR-LOCAL", "srv-1", T0, PointKind.FILE_SYNC, 7,
                       manifest_digest(MANIFEST), artifacts=arts, manifest=MANIFEST)
    (pid,) = add(db, full)
    with db.connect() as conn:
        whole = recovery_point(conn, pid)
        (bulk,) = latest_recovery_points(conn)
        (history,) = recovery_points(conn, "DR-LOCAL", "srv-1")
        assert recovery_point(conn, pid + 1000) is None
    assert whole is not None
    assert whole.artifacts == arts and set(whole.manifest) == set(MANIFEST)
    assert whole.manifest_digest == manifest_digest(reversed(MANIFEST))  # order-free
    for light in (bulk, history):  # lists carry the artifacts, not the manifest
        assert light.artifacts == arts and light.manifest == ()


def test_a_manifest_must_match_its_digest() -> None:
    with pytest.raises(InvalidInput, match="does not match"):
        PointRecord("gd-psd", "case", "DR-LOCAL", "srv-1", T0, PointKind.FILE_SYNC, 7,
                    DIGEST, manifest=MANIFEST)
    with pytest.raises(InvalidInput, match="names a path twice"):
        doubled = MANIFEST + (MANIFEST[0],)
        PointRecord("gd-psd", "case", "DR-LOCAL", "srv-1", T0, PointKind.FILE_SYNC, 7,
                    manifest_digest(doubled), manifest=doubled)
    with pytest.raises(InvalidInput, match="not a resource id"):
        Artifact(ArtifactKind.BACKUP, "DR-LOCAL", "b 1; rm")


def test_the_latest_moves_forward_with_ok_points_only(db: Engine) -> None:
    add(db, point(0), point(15))
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=15)}
    add(db, point(30, status=PointStatus.FAILED), point(45, status=PointStatus.PARTIAL))
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=15)}
    add(db, point(10))  # an older good point recorded late does not move it back
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=15)}
    add(db, point(60))
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=60)}
    with db.connect() as conn:
        history = recovery_points(conn, "DR-LOCAL", "srv-1")
    assert [(p.taken_at - T0, p.status) for p in history] == [
        (timedelta(minutes=60), PointStatus.OK), (timedelta(minutes=45), PointStatus.PARTIAL),
        (timedelta(minutes=30), PointStatus.FAILED), (timedelta(minutes=15), PointStatus.OK),
        (timedelta(minutes=10), PointStatus.OK), (timedelta(minutes=0), PointStatus.OK)]
    assert history[1].error == "rsync: connection reset" and history[1].manifest_digest is None


def test_a_copy_with_only_failed_cycles_has_no_latest_point(db: Engine) -> None:
    add(db, point(0, status=PointStatus.FAILED))
    assert latest(db) == {}


def test_points_in_another_zone_are_ordered_by_their_instant(db: Engine) -> None:
    east8 = timezone(timedelta(hours=8))
    add(db, point(0))
    later_in_utc8 = PointRecord("gd-psd", "case", "DR-LOCAL", "srv-1",
                                (T0 + timedelta(minutes=1)).astimezone(east8),
                                PointKind.FILE_SYNC, 1, DIGEST)
    add(db, later_in_utc8)
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=1)}


def test_latest_of_every_copy_in_one_query_filtered_by_department(db: Engine) -> None:
    add(db, point(0, server="a"), point(5, server="a"), point(3, server="b"),
        point(4, server="a", site="DR-REMOTE"),
        point(9, server="x", department="gd-edu", system="exam"))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db, "before_cursor_execute", count)
    try:
        everything = latest(db)
    finally:
        event.remove(db, "before_cursor_execute", count)
    assert len([s for s in statements if "recovery_point" in s]) == 1
    assert everything == {("DR-LOCAL", "a"): T0 + timedelta(minutes=5),
                          ("DR-LOCAL", "b"): T0 + timedelta(minutes=3),
                          ("DR-REMOTE", "a"): T0 + timedelta(minutes=4),
                          ("DR-LOCAL", "x"): T0 + timedelta(minutes=9)}
    assert latest(db, ["gd-edu"]) == {("DR-LOCAL", "x"): T0 + timedelta(minutes=9)}
    assert latest(db, []) == {}


def test_cycle_states_count_the_failures_since_the_last_good_point(db: Engine) -> None:
    failed, partial = PointStatus.FAILED, PointStatus.PARTIAL
    add(db, point(0, status=failed), point(1), point(2, status=failed),  # srv-1: 2 since ok
        point(3, status=partial),
        point(0, server="srv-2", status=failed), point(5, server="srv-2", status=failed),
        point(4, server="srv-3"))
    with db.connect() as conn:
        states = {s.server_id: s for s in cycle_states(conn)}
        only = cycle_states(conn, departments=["gd-tax"])
    assert only == []
    one, two, three = states["srv-1"], states["srv-2"], states["srv-3"]
    assert (one.failures, one.last_at, one.last_ok_at) == (2, T0 + timedelta(minutes=3),
                                                           T0 + timedelta(minutes=1))
    assert (two.failures, two.last_ok_at) == (2, None)  # never good: every cycle counts
    assert (three.failures, three.last_at, three.department, three.system) == (
        0, T0 + timedelta(minutes=4), "gd-psd", "case")


def test_deleting_history_never_deletes_a_latest_good_point(db: Engine) -> None:
    ids = add(db, point(0), point(1), point(2, status=PointStatus.FAILED))
    with write_begin(db) as conn:
        assert latest_point_id(conn, "DR-LOCAL", "srv-1") == ids[1]
        assert delete_recovery_points(conn, ids) == 2  # the latest good one is left
        assert delete_recovery_points(conn, []) == 0
    with db.connect() as conn:
        assert [p.id for p in recovery_points(conn, "DR-LOCAL", "srv-1")] == [ids[1]]
        assert latest_point_id(conn, "DR-LOCAL", "nothing") is None
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=1)}


def test_the_last_drill_of_each_system(db: Engine) -> None:
    with write_begin(db) as conn:
        add_drill(conn, DrillRecord("gd-psd", "case", "DR-LOCAL", T0, DrillResult.PASSED,
                                    timedelta(minutes=40)))
        last_id = add_drill(conn, DrillRecord("gd-psd", "case", "DR-REMOTE",
                                              T0 + timedelta(days=180), DrillResult.FAILED))
        add_drill(conn, DrillRecord("gd-psd", "case", "DR-LOCAL", T0 - timedelta(days=200),
                                    DrillResult.PASSED, timedelta(hours=3)))
        add_drill(conn, DrillRecord("gd-edu", "exam", "DR-LOCAL", T0, DrillResult.PASSED,
                                    timedelta(seconds=90.5)))
    with db.connect() as conn:
        last = last_drills(conn)
        only_edu = last_drills(conn, departments=["gd-edu"])
        history = drills(conn, "gd-psd", "case")
    assert last[("gd-psd", "case")] == DrillRecord(
        "gd-psd", "case", "DR-REMOTE", T0 + timedelta(days=180), DrillResult.FAILED, None,
        last_id)
    assert last[("gd-edu", "exam")].rto == timedelta(seconds=90.5)
    assert set(last) == {("gd-psd", "case"), ("gd-edu", "exam")}
    assert set(only_edu) == {("gd-edu", "exam")}
    assert [d.at for d in history] == [T0 + timedelta(days=180), T0, T0 - timedelta(days=200)]
    assert not last[("gd-psd", "case")].as_drill().passed


@pytest.mark.parametrize("bad", [
    {"manifest_digest": None},                        # an ok point without its manifest
    {"manifest_digest": "md5:abc"},
    {"size_bytes": -1},
    {"server_id": "x" * 65},
    {"server_id": "srv;rm -rf"},
    {"department": "gd psd"},
    {"department": "d" * 65},
    {"taken_at": datetime(2026, 12, 1, 8, 0)},        # no zone
])
def test_bad_points_are_refused(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "department": "gd-psd", "system": "case", "site": "DR-LOCAL", "server_id": "srv-1",
        "taken_at": T0, "kind": PointKind.FILE_SYNC, "size_bytes": 1,
        "manifest_digest": DIGEST, **bad}
    with pytest.raises(InvalidInput):
        PointRecord(**fields)  # type: ignore[arg-type]


def test_a_passed_drill_needs_its_rto() -> None:
    with pytest.raises(InvalidInput, match="achieved RTO"):
        DrillRecord("gd-psd", "case", "DR-LOCAL", T0, DrillResult.PASSED)


def test_the_revision_downgrades_and_upgrades_again(db: Engine) -> None:
    add(db, point(0))
    cfg = alembic_config()
    with db.connect() as connection, connection.begin():
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0011_server_ssh")
    names = set(inspect(db).get_table_names())
    assert not names & {"recovery_point", "recovery_point_latest", "dr_drill"}
    assert "server" in names
    upgrade_engine(db)
    assert {"recovery_point", "recovery_point_latest", "dr_drill"} <= set(
        inspect(db).get_table_names())
    assert latest(db) == {}
    add(db, point(1))
    assert latest(db) == {("DR-LOCAL", "srv-1"): T0 + timedelta(minutes=1)}
