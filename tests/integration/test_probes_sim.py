"""Region API probes against the simulator over HTTP (SQLite, and PostgreSQL when
configured): a hung API times out (reason ``timeout``), failures count up and reset, the last
success is kept, a region down is ``unreachable`` while the other sites stay up, and the
probe worker runs rounds and stops cleanly."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import Engine

from govcloud.cloud.connect import connect
from govcloud.domain.health import SERVICES
from govcloud.domain.sites import default_sites
from govcloud.services.health import Prober, health
from govcloud.sim.server import RunningSimulator
from govcloud.workers.probe import PeriodicWorker

pytestmark = pytest.mark.slow

SITES = default_sites()


def call(url: str, method: str = "POST", body: dict[str, object] | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, method=method, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):
        pass


def prober(engine: Engine, clouds: Path, timeout_s: float = 5.0) -> Prober:
    return Prober(engine=engine, sites=SITES, timeout_s=timeout_s,
                  connect=lambda s: connect(s, clouds_yaml=clouds))


def test_a_hung_api_times_out_and_recovers(sim: tuple[RunningSimulator, Path],
                                           engine: Engine) -> None:
    running, clouds = sim
    p = prober(engine, clouds, timeout_s=0.3)
    first = p.run()
    assert len(first) == len(SITES) * len(SERVICES)
    assert all(r.up and r.failures == 0 and r.last_ok_at == r.checked_at for r in first)
    # the API answers after 5 s: a probe that waited for it (no timeout) takes 5 s, far
    # outside the bound below however loaded the machine
    call(f"{running.base_url}/_sim/faults", "PUT", {"latency_ms": 5000})
    try:
        for round_ in (1, 2):
            hung = p.run()
            assert all(not r.up for r in hung)
            assert {r.reason for r in hung} == {"timeout"}, {r.error for r in hung}
            assert all(r.failures == round_ for r in hung)
            assert all(0.3 <= r.latency_s < 5.0 for r in hung), {r.latency_s for r in hung}
            # the last success is kept
            first_ok = {(r.site, r.service): r.checked_at for r in first}
            assert all(r.last_ok_at == first_ok[(r.site, r.service)] for r in hung)
    finally:
        call(f"{running.base_url}/_sim/faults", "PUT", {"latency_ms": 0})
    back = p.run()
    assert all(r.up and r.failures == 0 for r in back)
    report = health(engine, sites=SITES)
    assert {s["state"] for s in report["sites"]} == {"up"}
    p.close()


def test_a_region_down_is_unreachable_and_the_others_stay_up(
        sim: tuple[RunningSimulator, Path], engine: Engine) -> None:
    running, clouds = sim
    p = prober(engine, clouds)
    p.run()
    call(f"{running.base_url}/_sim/regions/DR-LOCAL/down")
    results = p.run()
    down = {r.service: r for r in results if r.site == "DR-LOCAL"}
    assert not down["compute"].up and down["compute"].reason == "unreachable"
    assert all(r.up for r in results if r.site != "DR-LOCAL")
    report = {s["site"]: s for s in health(engine, sites=SITES)["sites"]}
    assert report["DR-LOCAL"]["state"] == "down"
    assert report["PROD"]["state"] == report["DR-REMOTE"]["state"] == "up"
    p.close()


def test_the_probe_worker_runs_rounds_and_stops(sim: tuple[RunningSimulator, Path],
                                                engine: Engine) -> None:
    _, clouds = sim
    p = prober(engine, clouds)
    worker = PeriodicWorker(p.run, interval_s=0.05, name="probe-test").start()
    thread = worker._thread
    assert thread is not None
    try:
        assert worker.wait_for_runs(3, timeout=60)
    finally:
        worker.stop()
    runs = worker.runs
    assert runs >= 3
    assert not thread.is_alive()  # stopped: its thread has ended, so no round can follow
    assert worker.runs == runs
    assert {s["state"] for s in health(engine, sites=SITES)["sites"]} == {"up"}
    p.close()
