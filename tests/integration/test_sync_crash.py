"""kill -9 of a process in the middle of a full sync's database write: the next sync completes
and the database is consistent — no duplicates, no half-written site (one transaction per
site). Also the sync worker: first run full, then incremental, stops cleanly."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.services.plane import build_plane
from govcloud.services.sync import Syncer
from govcloud.settings import load_settings
from govcloud.sim.server import RunningSimulator
from govcloud.store.inventory import sync_states, table
from govcloud.workers.sync import SyncWorker, start_workers
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

SITES = default_sites()

CHILD = textwrap.dedent("""
    import sys, threading
    from govcloud.cloud.connect import connect
    from govcloud.domain.sites import default_sites
    from govcloud.services.sync import Syncer
    from govcloud.store import inventory as store
    from govcloud.store.engine import make_engine

    url, clouds = sys.argv[1], sys.argv[2]
    original = store.replace_servers
    seen = []
    lock = threading.Lock()

    def replace_servers(conn, site, servers, department_of, at):
        done = original(conn, site, servers, department_of, at)
        with lock:
            seen.append(site)
            second = len(seen) == 2
        if second:  # the second site's rows are written but not committed: hang here
            print("WRITING", site, flush=True)
            sys.stdin.readline()
        return done

    store.replace_servers = replace_servers
    sites = default_sites()
    conns = {s.name: connect(s, clouds_yaml=clouds) for s in sites}
    Syncer(engine=make_engine(url), sites=sites, connections=lambda: conns).sync(full=True)
    print("DONE", flush=True)
""")


def live_counts(engine: Engine) -> dict[str, int]:
    srv = table("server")
    with engine.connect() as conn:
        return {r.site: int(r.n) for r in conn.execute(
            select(srv.c.site, func.count().label("n")).where(srv.c.deleted_at.is_(None))
            .group_by(srv.c.site))}


def test_kill_9_mid_write_leaves_no_half_written_site(
        sim: tuple[RunningSimulator, Path], engine: Engine, database_url: str) -> None:
    running, clouds = sim
    want = {s.name: len(running.sim.cloud.regions[s.name].servers) for s in SITES}
    child = subprocess.Popen([sys.executable, "-c", CHILD, database_url, str(clouds)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the second site is mid-transaction
        assert line.startswith("WRITING"), line
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    hung = line.split()[1]

    counts = live_counts(engine)
    assert counts.get(hung, 0) == 0  # its transaction died with the process
    for site, n in counts.items():
        assert n == want[site], f"{site} half-written: {n} of {want[site]}"

    conns = {s.name: connect(s, clouds_yaml=clouds) for s in SITES}
    report = Syncer(engine=engine, sites=SITES, connections=lambda: conns).sync(full=True)
    assert report.ok, report.to_dict()
    assert live_counts(engine) == want
    srv = table("server")
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(srv)).scalar_one()
        distinct = conn.execute(select(func.count()).select_from(
            select(srv.c.site, srv.c.id).distinct().subquery())).scalar_one()
        states = sync_states(conn)
    assert total == distinct == sum(want.values())  # nothing tombstoned, nothing twice
    assert all(not states[s.name].stale for s in SITES)


class CountingSyncer:
    """Records what the worker asked for; returns an ok, empty report."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def sync(self, sites: object = None, *, full: bool = False) -> object:
        from govcloud.services.sync import SyncReport

        self.calls.append(full)
        return SyncReport((), full, 0.0)


def test_the_worker_runs_full_first_then_incremental_and_full_when_due() -> None:
    now = [0.0]
    fake = CountingSyncer()
    worker = SyncWorker(fake, interval_s=60, full_interval_s=900,  # type: ignore[arg-type]
                        monotonic=lambda: now[0])
    worker.run_once()
    now[0] = 60.0
    worker.run_once()
    now[0] = 899.0
    worker.run_once()
    now[0] = 900.0
    worker.run_once()
    now[0] = 960.0
    worker.run_once()
    assert fake.calls == [True, False, False, True, False]


def test_the_worker_thread_syncs_and_stops_cleanly(
        sim: tuple[RunningSimulator, Path], engine: Engine, database_url: str,
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    running, clouds = sim
    conns = {s.name: connect(s, clouds_yaml=clouds) for s in SITES}
    settings = load_settings(database_url=database_url, clouds_yaml=clouds,
                             sync_interval_s=0.01, full_sync_interval_s=3600)
    plane = build_plane(engine=engine, settings=settings, clouds=conns,
                        catalogue_dir=tmp_path / "no-catalogue")
    plane.dr_posture.posture()  # read once: from now on each sync has it judged again
    stop = start_workers(plane)
    try:
        worker: SyncWorker = plane.sync_worker
        assert worker.wait_for_runs(3, timeout=60)
        wait_until(lambda: plane.dr_posture.refreshes >= 2, what="the DR posture rebuilt")
    finally:
        stop()
        request.addfinalizer(gc.unfreeze)  # the rest of the suite: the usual collector
    assert worker._thread is None  # joined
    assert worker.last_report is not None and worker.last_report.ok
    assert not worker.last_report.full  # the first was full, the later ones incremental
    assert worker.syncer is plane.syncer
    with engine.connect() as conn:
        states = sync_states(conn)
    assert all(states[s.name].last_full is not None and not states[s.name].stale
               for s in SITES)
    runs = worker.runs
    assert not worker.wait_for_runs(runs + 1, timeout=0.2)  # stopped: no more runs
    # each run settled the heap after it: the last run's objects are out of the GC's passes
    assert gc.get_freeze_count() > 0
    assert all(o is not worker.last_report for o in gc.get_objects())
