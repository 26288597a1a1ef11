"""The DR posture as metric samples (``services.dr_metrics``): what each family says about a
seeded store, the RPO turned into seconds at scrape time (+Inf without a recovery point), the
metrics snapshot and collector carrying them, and the series bound at province scale."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine

from govcloud.domain.metrics import FAMILIES
from govcloud.domain.protection import (
    Compliance,
    CopyFinding,
    CopyState,
    DrillState,
    DrillStatus,
    StandbyKind,
    Verdict,
)
from govcloud.domain.protection_config import DEFAULT_PROTECTION
from govcloud.domain.recovery import DrillRecord, DrillResult, PointStatus
from govcloud.services.dr_metrics import dr_samples, max_series, rpo_seconds
from govcloud.services.dr_posture import Posture, SystemPosture, _totals, dr_posture
from govcloud.services.metrics import SnapshotBuilder
from govcloud.store.engine import write_begin
from govcloud.store.protection_repo import latest_recovery_points
from monitors.collector import GovcloudCollector
from tests.unit.services.dr_seed import NOW, SITES, drill, point, protected, request, server

Samples = dict[tuple[str, tuple[str, ...]], float]
DR_FAMILIES = {f.name for f in FAMILIES if f.name.startswith("govcloud_dr_")}


def seed(db: Engine) -> None:
    with write_begin(db) as conn:
        protected(conn, "gd-psd", "case")                                       # compliant
        protected(conn, "gd-tax", "ledger", skip=("DR-REMOTE", "ledger-vm-2"))  # missing
        protected(conn, "gd-tax", "audit", level=4, age=timedelta(days=2),
                  drilled=None)                      # RPO 2d over 1d; first drill not due
        protected(conn, "guangzhou", "portal", statuses={"DR-REMOTE": "ACTIVE"}, drilled=None)
        drill(conn, "guangzhou", "portal", datetime(2026, 11, 1, tzinfo=UTC), passed=False)
        protected(conn, "shenzhen", "web", drilled=datetime(2026, 5, 1, tzinfo=UTC))  # overdue
        request(conn, "shenzhen", "fresh", servers=1)    # its copies have no point yet
        server(conn, "DR-LOCAL", "shenzhen", "fresh-vm-1")
        request(conn, "gd-edu", "site", level=1, servers=1)  # level 1: no copy, no RPO


def samples(db: Engine) -> tuple[Samples, dict[tuple[str, ...], float | None], Posture]:
    posture = dr_posture(db, DEFAULT_PROTECTION, SITES, NOW)
    out: Samples = {}

    def add(name: str, labels: tuple[str, ...], value: float) -> None:
        assert (name, labels) not in out
        out[(name, labels)] = value

    points = dr_samples(posture, DEFAULT_PROTECTION, add)
    return out, dict(points.points), posture


def test_each_family_says_what_the_posture_says(db: Engine) -> None:
    seed(db)
    got, points, posture = samples(db)
    assert {name for name, _ in got} | {"govcloud_dr_rpo_seconds"} == DR_FAMILIES
    ten = (NOW - timedelta(minutes=10)).timestamp()
    assert points == {("gd-psd", "case", "5"): ten, ("gd-tax", "ledger", "5"): ten,
                      ("gd-tax", "audit", "4"): (NOW - timedelta(days=2)).timestamp(),
                      ("guangzhou", "portal", "5"): ten, ("shenzhen", "web", "5"): ten,
                      ("shenzhen", "fresh", "5"): None}
    verdicts = {labels: v for (name, labels), v in got.items() if name == "govcloud_dr_systems"}
    assert verdicts[("gd-tax", "non-compliant")] == 2 and verdicts[("gd-tax", "compliant")] == 0
    assert verdicts[("guangzhou", "non-compliant")] == 1  # its last drill failed
    assert verdicts[("gd-edu", "compliant")] == 1
    assert sum(verdicts.values()) == posture.province.systems == 7
    assert got[("govcloud_dr_province_systems", ("5", "non-compliant"))] == 4
    assert got[("govcloud_dr_province_systems", ("5", "compliant"))] == 1
    assert got[("govcloud_dr_province_systems", ("4", "non-compliant"))] == 1
    assert got[("govcloud_dr_copies_missing", ("gd-tax", "DR-REMOTE"))] == 1
    assert got[("govcloud_dr_copies_missing", ("shenzhen", "DR-REMOTE"))] == 1  # fresh's
    assert got[("govcloud_dr_copies_missing", ("gd-psd", "DR-LOCAL"))] == 0
    assert got[("govcloud_dr_copies", ("DR-REMOTE", "holds capacity"))] == 1
    assert got[("govcloud_dr_copies", ("DR-REMOTE", "missing"))] == 2
    assert got[("govcloud_dr_copies", ("DR-LOCAL", "present"))] == 5
    assert got[("govcloud_dr_drills_overdue", ("shenzhen",))] == 1
    assert got[("govcloud_dr_drills_overdue", ("gd-tax",))] == 0
    assert got[("govcloud_dr_drills_failing", ("guangzhou",))] == 1
    # no failing cycles given: every department's count is 0
    assert {v for (n, _), v in got.items() if n == "govcloud_dr_copies_failing"} == {0}
    assert got[("govcloud_dr_last_drill_timestamp_seconds", ("guangzhou", "portal"))] == \
        datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert ("govcloud_dr_last_drill_timestamp_seconds", ("gd-tax", "audit")) not in got
    assert got[("govcloud_dr_rpo_target_seconds", ("5",))] == 1800
    assert got[("govcloud_dr_rpo_target_seconds", ("4",))] == 86400
    assert got[("govcloud_dr_rto_target_seconds", ("5",))] == 2 * 86400
    assert got[("govcloud_dr_posture_timestamp_seconds", ())] == NOW.timestamp()


def test_the_rpo_is_counted_at_scrape_time() -> None:
    assert rpo_seconds(100.0, 700.0) == 600.0
    assert rpo_seconds(800.0, 700.0) == 0.0  # a point after now (clock skew)
    assert rpo_seconds(None, 700.0) == float("inf")


class Held:
    """A held posture as ``SnapshotBuilder`` reads it (``PostureSource``)."""

    def __init__(self, posture: Posture) -> None:
        self.policy = DEFAULT_PROTECTION
        self.held = posture
        self.reads = 0

    def posture(self, departments: Any = None) -> Posture:
        self.reads += 1
        return self.held

    def held_at(self) -> float | None:
        return 1.0


def test_the_snapshot_and_the_collector_export_them(db: Engine) -> None:
    seed(db)
    with write_begin(db) as conn:  # a gd-psd copy's last cycle failed, after its good one
        good = next(p for p in latest_recovery_points(conn, departments=["gd-psd"]))
        point(conn, "gd-psd", good.system, good.site, good.server_id, timedelta(minutes=1),
              PointStatus.FAILED)
    held = Held(dr_posture(db, DEFAULT_PROTECTION, SITES, NOW))
    snap = SnapshotBuilder(engine=db, sites=SITES, dr_posture=held).build()
    assert held.reads == 1
    now = (NOW + timedelta(minutes=5)).timestamp()
    registry = CollectorRegistry()
    registry.register(GovcloudCollector(lambda: snap, clock=lambda: now))
    text = generate_latest(registry).decode()
    assert ('govcloud_dr_rpo_seconds{department="gd-psd",level="5",system="case"} 900.0'
            in text)
    assert 'govcloud_dr_rpo_seconds{department="shenzhen",level="5",system="fresh"} +Inf' in text
    assert 'govcloud_dr_copies_missing{department="gd-tax",site="DR-REMOTE"} 1.0' in text
    assert 'govcloud_dr_copies_failing{department="gd-psd"} 1.0' in text
    assert 'govcloud_dr_copies_failing{department="gd-tax"} 0.0' in text
    plain = SnapshotBuilder(engine=db, sites=SITES).build()  # no posture: no DR family
    assert not [n for n in plain.families if n.startswith("govcloud_dr_")]
    assert plain.dr_points == []


# --- the bound --------------------------------------------------------------------------------

def _system(department: str, n: int, level: int, sites: list[str]) -> SystemPosture:
    """A level-``level`` system with a copy in every DR site (one missing, for the worst case:
    every department × site then has a missing-copy series), drilled."""
    copies = tuple(CopyFinding(site, StandbyKind.COLD, CopyState.MISSING if i else
                               CopyState.PRESENT, NOW - timedelta(minutes=n % 60),
                               timedelta(minutes=n % 60), ()) for i, site in enumerate(sites))
    plan = DEFAULT_PROTECTION.plan(department, f"s{n}", level, SITES) if level >= 3 else None
    verdict = Verdict(list(Compliance)[n % 3], ("x",), copies,
                      DrillStatus(list(DrillState)[n % 4], None))
    drilled = DrillRecord(department, f"s{n}", sites[0], NOW - timedelta(days=n % 300),
                          DrillResult.PASSED, timedelta(hours=1))
    return SystemPosture(department, f"s{n}", None, level, plan, (), (), drilled, verdict)


def test_province_scale_stays_within_the_bound_and_under_15000_series_in_all() -> None:
    """5,000 systems of 71 departments (the catalogue's), 3 sites, every DR level: each
    family's series counted as the snapshot would export them. With the existing families'
    bound at province scale (tests/integration/test_metrics_scale.py: 3,960 for 71
    departments) the whole /metrics stays under 15,000."""
    departments, systems, dr_sites = 71, 5000, ["DR-LOCAL", "DR-REMOTE"]
    rows = tuple(_system(f"dept-{n % departments:02d}", n, 3 + n % 4, dr_sites)
                 for n in range(systems))
    posture = _totals(NOW, rows)
    count: dict[str, int] = {}

    def add(name: str, labels: tuple[str, ...], value: float) -> None:
        count[name] = count.get(name, 0) + 1

    points = dr_samples(posture, DEFAULT_PROTECTION, add).points
    total = sum(count.values()) + len(points)
    bound = max_series(systems=systems, departments=departments, sites=3)
    assert len(points) == systems and count["govcloud_dr_last_drill_timestamp_seconds"] == systems
    assert total <= bound == 10_691
    existing = 3_960  # the other families' bound with 71 departments (test_metrics_scale)
    assert existing + bound < 15_000
    # what was left out: a series per system and site for the RPO, the target and the last
    # drill's RTO per system, would pass 15,000 in all
    assert existing + bound + systems + 2 * systems > 15_000
