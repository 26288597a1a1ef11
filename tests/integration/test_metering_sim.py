"""Metering from the inventory sync of a small simulator (real HTTP) into SQLite and
PostgreSQL: each sync's hour equals a calculation made independently from the simulator's own
state, a second sync in the hour replaces the reading, a site that cannot be read is a gap for
its hour (never zero), and a backfill of the month gives the same figures twice."""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.cloud.connect import connect
from govcloud.domain.metering import Month, Resource, UsageRow, hour_of, usage_kind
from govcloud.domain.sites import default_sites
from govcloud.services.metering import backfill_month, month_usage
from govcloud.services.sync import Syncer
from govcloud.sim.server import RunningSimulator

pytestmark = pytest.mark.slow

SITES = default_sites()
ROLES = {s.name: s.role for s in SITES}
# the simulator's servers are created as it starts: the syncs' clock runs after that
T = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)
HOUR = hour_of(T)
MONTH = Month.of(T)
NEXT = HOUR + dt.timedelta(hours=1)
DEPARTMENTS: dict[str, str | None] = {
    "gd-psd": None, "gd-tax": None, "gd-hrss": None, "gd-edu": None, "gd-agri": None,
    "gd-data": None, "guangzhou": "guangzhou", "shenzhen": "shenzhen", "shantou": "shantou"}


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def make_syncer(engine: Engine, clouds: Path, clock: Clock, **kw: Any) -> Syncer:
    conns = {s.name: connect(s, clouds_yaml=clouds) for s in SITES}
    return Syncer(engine=engine, sites=SITES, connections=lambda: conns,
                  departments=lambda: DEPARTMENTS, clock=clock, **kw)


def expected_from_simulator(running: RunningSimulator) -> Counter[tuple[str, ...]]:
    """The hour's usage worked out from the simulator's state, not from the store."""
    cloud = running.sim.cloud
    dept = {p.id: p.name for p in cloud.projects.values() if "department" in p.extra}
    out: Counter[tuple[str, ...]] = Counter()
    for site, region in cloud.regions.items():
        for s in region.servers.values():
            key = (dept.get(s.project_id, ""), site, s.flavor.name,
                   usage_kind(ROLES[site], s.status).value)
            out[(*key, "servers")] += 1
            out[(*key, "vcpu")] += s.flavor.vcpus
            out[(*key, "ram_gib")] += Decimal(s.flavor.ram) / 1024  # type: ignore[assignment]
            out[(*key, "disk_gb")] += s.flavor.disk + s.flavor.ephemeral
        for v in region.volumes.values():
            out[(dept.get(v.project_id, ""), site, "", "primary", "volume_gb")] += v.size
    return +out  # zero quantities are not rows


def at_hour(rows: tuple[UsageRow, ...], hour: dt.datetime) -> Counter[tuple[str, ...]]:
    return Counter({(r.department, r.site, r.flavor, r.kind.value, r.resource.value):
                    r.quantity for r in rows if r.hour == hour})  # type: ignore[misc]


def test_each_sync_meters_its_hour_as_the_simulator_holds_it(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    clock = Clock(T)
    syncer = make_syncer(engine, clouds, clock)
    assert syncer.sync(full=True).ok
    usage = month_usage(engine, MONTH, ROLES, clock=lambda: T + dt.timedelta(hours=1))
    expected = expected_from_simulator(running)
    assert at_hour(usage.rows, HOUR) == expected
    assert {k[3] for k in expected} >= {"primary", "hot"}  # copies are told apart
    assert {g.site for g in usage.gaps if g.hour == HOUR} == set()
    assert {g.reason for g in usage.gaps} == {"no sync"}  # the hours before the first sync
    assert len(usage.gaps) == 3 * int((HOUR - MONTH.start) / dt.timedelta(hours=1))
    cloud = running.sim.cloud
    victim = next(s for s in cloud.regions["PROD"].servers.values() if s.status == "ACTIVE")
    connect(SITES[0], clouds_yaml=clouds).compute.delete_server(victim.id)
    clock.at = T + dt.timedelta(minutes=30)  # an incremental sync later in the same hour
    assert syncer.sync().ok
    again = month_usage(engine, MONTH, ROLES, clock=lambda: T + dt.timedelta(hours=1))
    assert at_hour(again.rows, HOUR) == expected_from_simulator(running) != expected


def test_a_site_that_cannot_be_read_is_a_gap_and_a_backfill_is_deterministic(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    clock = Clock(T)
    syncer = make_syncer(engine, clouds, clock, request_timeout_s=0.5)
    assert syncer.sync(full=True).ok
    faults = urllib.request.Request(f"{running.base_url}/_sim/faults", method="PUT",
                                    data=b'{"latency_ms": 2000}',
                                    headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(faults, timeout=10):
        pass
    clock.at = T + dt.timedelta(hours=1)
    assert not syncer.sync(["PROD"]).ok
    until = T + dt.timedelta(hours=2)
    later = month_usage(engine, Month.of(NEXT), ["PROD"], clock=lambda: until)
    (gap,) = [g for g in later.gaps if g.hour == NEXT]
    assert "timed out" in gap.reason
    assert not [r for r in later.rows if r.hour == NEXT]  # a gap, never zero usage
    usage = month_usage(engine, MONTH, ["PROD"], clock=lambda: until)
    before = at_hour(usage.rows, HOUR)
    figures = []
    for _ in range(2):
        result = backfill_month(engine, MONTH, SITES, clock=lambda: until)
        assert result.hours == {"PROD": 1, "DR-LOCAL": 1, "DR-REMOTE": 1}
        figures.append(month_usage(engine, MONTH, ROLES, clock=lambda: until))
    assert figures[0] == figures[1]
    assert at_hour(figures[0].rows, HOUR) == before  # the same servers, the same figures
    assert sum(r.quantity for r in figures[0].rows if r.resource is Resource.SERVERS) == \
        len([s for r in running.sim.cloud.regions.values() for s in r.servers.values()])
    assert not [r for r in figures[0].rows if r.hour == NEXT]  # still a gap
