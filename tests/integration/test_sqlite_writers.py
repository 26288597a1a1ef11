"""Writers wait for SQLite's write lock instead of failing (issue 17, item 11).

A deferred transaction that reads and then writes fails at once with "database is locked" when
another writer commits in between (its read snapshot is stale; the busy handler cannot help).
Here a second connection holds the file's write lock and commits a change while the probe
worker records a round — real files, a real second writer, the simulator probed over HTTP."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from govcloud.cloud.connect import connect
from govcloud.domain.sites import default_sites
from govcloud.services.health import Prober
from govcloud.sim.server import RunningSimulator
from govcloud.store.engine import make_engine, write_begin
from govcloud.store.migrate import upgrade_engine
from govcloud.workers.probe import PeriodicWorker

ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 1.5


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    path = tmp_path / "govcloud.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_engine(engine)
    try:
        yield engine, path
    finally:
        engine.dispose()


class Writer:
    """Another process's writer: holds the file's write lock for ``hold_s``, then commits a
    change to the probe results (so a reader's snapshot taken meanwhile is stale)."""

    def __init__(self, path: Path, hold_s: float) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.hold_s = hold_s
        self.locked = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("UPDATE probe_result SET latency_s = latency_s + 0.000001")
        self.locked.set()
        time.sleep(self.hold_s)
        self.conn.execute("COMMIT")

    def __enter__(self) -> Writer:
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(30)
        self.conn.close()


def test_the_probe_worker_waits_for_another_writer_instead_of_failing(
        sqlite_file: tuple[Engine, Path], sim: tuple[RunningSimulator, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    engine, path = sqlite_file
    _, clouds = sim
    sites = default_sites()
    prober = Prober(engine=engine, sites=sites, timeout_s=5.0,
                    connect=lambda s: connect(s, clouds_yaml=clouds))
    prober.run()  # a first round: there are rows to read and update
    worker = PeriodicWorker(prober.run, interval_s=3600, name="probe-under-test")
    caplog.set_level(logging.ERROR, logger="govcloud.workers.probe")
    with Writer(path, HOLD_S):
        started = time.monotonic()
        worker.start()
        assert worker.wait_for_runs(1, timeout=60)
        waited = time.monotonic() - started
    worker.stop()
    prober.close()
    failures = [r for r in caplog.records if "run failed" in r.getMessage()]
    assert not failures, failures[0].exc_text if failures else None
    assert waited >= HOLD_S * 0.8, "the round did not wait for the other writer"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM probe_result")).scalar_one()
    assert rows >= len(sites)


def test_a_writer_that_read_first_waits_for_no_one_and_is_not_overtaken(
        sqlite_file: tuple[Engine, Path]) -> None:
    """Deterministic form of the race: writer A reads, then writer B writes and commits, then
    A writes. ``write_begin`` takes the write lock at BEGIN, so B waits for A and both commit;
    a deferred BEGIN lets B commit in between and A's write then fails ("database is locked":
    its snapshot is stale). Guards ``BEGIN IMMEDIATE`` (the mutation gate's
    sqlite-begin-immediate) without depending on a race's timing."""
    engine, _ = sqlite_file
    with write_begin(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE tally (who TEXT)")
    a_read, b_done = threading.Event(), threading.Event()
    errors: list[str] = []

    def writer_a() -> None:
        try:
            with write_begin(engine) as conn:
                conn.exec_driver_sql("SELECT count(*) FROM tally").scalar()
                a_read.set()
                b_done.wait(2.0)  # B could not commit meanwhile: it waits for A's lock
                conn.exec_driver_sql("INSERT INTO tally VALUES ('a')")
        except Exception as exc:  # noqa: BLE001 - what failed is the assertion's message
            errors.append(f"A: {exc}")
        finally:
            a_read.set()

    def writer_b() -> None:
        try:
            with write_begin(engine) as conn:
                conn.exec_driver_sql("INSERT INTO tally VALUES ('b')")
            b_done.set()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"B: {exc}")

    a = threading.Thread(target=writer_a)
    a.start()
    assert a_read.wait(10)
    b = threading.Thread(target=writer_b)
    b.start()
    a.join(30)
    b.join(30)
    assert errors == []
    with engine.connect() as conn:
        assert sorted(r[0] for r in conn.exec_driver_sql("SELECT who FROM tally")) == ["a", "b"]


def test_every_writer_of_the_control_plane_takes_the_write_lock_first() -> None:
    """No engine transaction of the control plane starts deferred: ``engine.begin()`` (a
    deferred BEGIN on SQLite) is spelled only inside ``store.engine.write_begin``; writers
    use it or ``store.audit.write_session``."""
    pattern = re.compile(r"\bengine\s*\.\s*begin\s*\(")
    found = []
    for path in sorted((ROOT / "govcloud").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("govcloud/sim/") or rel == "govcloud/store/engine.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, found


def test_no_plain_session_of_the_control_plane_writes() -> None:
    """A ``Session(engine)`` begins deferred on SQLite: the control plane only reads through
    one; every session that adds, flushes or commits is a ``write_session``."""
    opener = re.compile(r"^(\s*)with Session\(")
    found = []
    for path in sorted((ROOT / "govcloud").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("govcloud/sim/"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            match = opener.match(line)
            if match is None:
                continue
            indent = len(match.group(1))
            for later in lines[i + 1:]:
                if later.strip() and len(later) - len(later.lstrip()) <= indent:
                    break
                if re.search(r"\.(commit|flush)\(\)|session\.add\(", later):
                    found.append(f"{rel}:{i + 1}: {later.strip()}")
    assert not found, found
