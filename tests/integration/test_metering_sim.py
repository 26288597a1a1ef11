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
from govcloud.domain.prices import Unit
from govcloud.domain.sites import default_sites
from govcloud.services.metering import backfill_month, month_usage, rate_stored_month
from govcloud.services.prices import parse_sheet_text
from govcloud.services.sync import Syncer
from govcloud.sim.server import RunningSimulator
from govcloud.store import metering_repo
from govcloud.store.engine import write_begin
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

SITES = default_sites()
ROLES = {s.name: s.role for s in SITES}
# the simulator's servers are created as it starts: the syncs' clock runs after that
HOUR = hour_of(dt.datetime.now(dt.UTC)) + dt.timedelta(hours=1)
T = HOUR + dt.timedelta(minutes=5)  # a second sync 30 minutes later is in the same hour
MONTH = Month.of(T)
NEXT = HOUR + dt.timedelta(hours=1)
EXAMPLE = Path(__file__).resolve().parents[2] / "tenants" / "prices" / "2026.yaml"
LEVELS = {"gd-psd": 5, "gd-tax": 4, "shenzhen": 3}
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
            out[(*key, "active")] += 1 if s.status == "ACTIVE" else 0  # not billed
        for v in region.volumes.values():
            out[(dept.get(v.project_id, ""), site, "", "primary", "volume_gb")] += v.size
    return +out  # zero quantities are not rows (Counter equality reads a zero as missing)


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
    wait_until(lambda: victim.id not in cloud.regions["PROD"].servers,
               what="the deleted server to be gone")
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


def test_a_metered_hour_is_priced_as_an_independent_calculation_says(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    text = (EXAMPLE.read_text(encoding="utf-8")
            .replace("2026-01-01", MONTH.start.date().isoformat())
            .replace('effective_until: "2026-12-31"\n', ""))
    sheet = parse_sheet_text(text, source="test")
    with write_begin(engine) as conn:
        metering_repo.add_sheet(conn, sheet, text, by="ana", person="Ana", at=T)
        metering_repo.approve_sheet(conn, sheet.version, by="bo", person="Bo", at=T)
    assert make_syncer(engine, clouds, Clock(T)).sync(full=True).ok
    rating = rate_stored_month(engine, MONTH, levels=LEVELS)
    cloud = running.sim.cloud
    dept = {p.id: p.name for p in cloud.projects.values() if "department" in p.extra}
    exact = Decimal(0)
    for site, region in cloud.regions.items():
        for s in region.servers.values():
            owner = dept.get(s.project_id, "")
            factor = (sheet.copy_multiplier(usage_kind(ROLES[site], s.status))
                      * sheet.level_multiplier(LEVELS.get(owner)))
            price = sheet.flavor_price(s.flavor.name, site)
            if price is None:
                price = (s.flavor.vcpus * sheet.unit_price(Unit.VCPU_HOUR, site)
                         + Decimal(s.flavor.ram) / 1024 * sheet.unit_price(Unit.RAM_GIB_HOUR,
                                                                           site)
                         + (s.flavor.disk + s.flavor.ephemeral)
                         * sheet.unit_price(Unit.DISK_GB_HOUR, site))
            exact += price * factor
        for v in region.volumes.values():
            exact += (v.size * sheet.unit_price(Unit.VOLUME_GB_MONTH, site) / MONTH.hours
                      * sheet.level_multiplier(LEVELS.get(dept.get(v.project_id, ""))))
    assert rating.sheets == ("2026.1",) and rating.lines
    # each line is rounded to the cent twice at most (base and surcharge)
    assert abs(rating.total - exact) <= Decimal("0.01") * len(rating.lines)
    assert rating.total == sum(rating.by_department().values(), Decimal(0))
    surcharged = {ln.department for ln in rating.lines if ln.surcharge}
    assert surcharged <= set(LEVELS)
