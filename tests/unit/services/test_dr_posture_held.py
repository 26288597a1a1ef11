"""The held DR posture (``services.dr_posture_held``): a read reuses it until the store (or the
catalogue's cities) changes or it ages, narrowing it to departments gives what judging
those departments alone gives, and the metrics snapshot built over it is not built twice at
start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.services.dr_posture import dr_posture
from govcloud.services.dr_posture_held import HeldPosture, HeldPostures, PostureBuilder
from govcloud.store.engine import write_begin
from tests.unit.services.dr_seed import NOW, SITES, drill, protected
from tests.waiting import wait_until

CITIES = {"gd-psd": None, "gz-gov": "guangzhou", "sz-gov": "shenzhen"}


class Counting(PostureBuilder):
    builds = 0

    def build(self) -> HeldPosture:
        self.builds += 1
        return super().build()


def held(db: Engine, cities: dict[str, str | None], *, max_age_s: float = 60.0
         ) -> tuple[Counting, HeldPostures]:
    builder = Counting(engine=db, policy=DEFAULT_PROTECTION, sites=SITES, clock=lambda: NOW,
                       cities=lambda: cities)
    return builder, HeldPostures(builder, max_age_s=max_age_s)


def seed(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case")
        protected(conn, "gz-gov", "portal", skip=("DR-REMOTE", "portal-vm-1"))
        protected(conn, "sz-gov", "web")


def test_a_read_reuses_the_posture_until_the_store_changes(db: Engine) -> None:
    seed(db)
    builder, postures = held(db, dict(CITIES))
    first = postures.posture()
    assert postures.posture() is first and builder.builds == 1
    with write_begin(db) as conn:
        drill(conn, "sz-gov", "web", NOW - timedelta(days=1))
    assert postures.posture() is first  # served as held; a rebuild starts behind it

    def rebuilt() -> bool:
        row = next(s for s in postures.posture().systems if s.department == "sz-gov")
        return row.last_drill is not None and row.last_drill.at == NOW - timedelta(days=1)

    wait_until(rebuilt, what="the posture rebuilt with the new drill")
    assert builder.builds == 2


def test_a_catalogue_city_change_or_age_rebuilds_it(db: Engine) -> None:
    seed(db)
    cities = dict(CITIES)
    builder, postures = held(db, cities)
    assert set(postures.posture().cities) == {"guangzhou", "shenzhen"}
    cities["sz-gov"] = "guangzhou"
    wait_until(lambda: set(postures.posture().cities) == {"guangzhou"},
               what="the posture rebuilt with the new cities")
    builder, postures = held(db, cities, max_age_s=0.0)
    first = postures.posture()
    wait_until(lambda: postures.posture() is not first, what="an aged posture rebuilt")
    assert builder.builds >= 2


def test_narrowing_gives_what_judging_those_departments_gives(db: Engine) -> None:
    seed(db)
    _, postures = held(db, dict(CITIES))
    for departments in (["gz-gov"], ["gd-psd", "sz-gov"], ["nobody"]):
        got = postures.posture(departments)
        want = dr_posture(db, DEFAULT_PROTECTION, SITES, NOW, departments=departments,
                          cities=CITIES)
        assert got == want
    assert postures.posture(["gz-gov"]).province.non_compliant == 1
    assert datetime(2026, 12, 7, 12, tzinfo=UTC) == postures.posture().at


def test_the_first_metrics_snapshot_is_built_once_with_the_posture(db: Engine) -> None:
    from govcloud.services.metrics import MetricsSnapshots, SnapshotBuilder

    seed(db)
    builder, postures = held(db, dict(CITIES))
    metrics = MetricsSnapshots(SnapshotBuilder(engine=db, sites=SITES, dr_posture=postures),
                               max_age_s=3600.0)
    first = metrics.current()  # judges the posture, then takes the fingerprint
    assert builder.builds == 1 and postures.held_at() is not None
    assert metrics.current() is first  # its fingerprint already holds the posture's time
    wait_until(lambda: not metrics._refreshing and not postures._refreshing,
               what="the change checks behind the reads")
    assert metrics.refreshes == 1 and builder.builds == 1
    assert metrics.current() is first
