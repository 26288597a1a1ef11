"""The lease keeper (govcloud.workers.leases) against an in-memory lease board with a clock
the test moves: a replica runs a worker only while it holds its lease; a lease another
replica took stops the worker here; a replica that cannot renew stops its workers before
its leases can expire; a clean stop gives the leases up at once; SQLite starts everything."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from govcloud.domain.replicas import LeaseTiming, Replica
from govcloud.errors import DatabaseUnavailable
from govcloud.settings import Settings
from govcloud.workers.leases import LeaseKeeper, Worker

TIMING = LeaseTiming(6.0, 2.0)
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@dataclass
class Board:
    """The ``worker_lease`` table, in memory, on the test's clock."""

    now: float = 0.0
    leases: dict[str, tuple[str, float]] = field(default_factory=dict)  # worker → holder, end
    down: bool = False

    def check(self) -> None:
        if self.down:
            raise DatabaseUnavailable("cannot reach the database")


class FakeCoordinator:
    def __init__(self, board: Board, rid: str, *, replicated: bool = True) -> None:
        self.board, self.timing, self.replicated = board, TIMING, replicated
        self.replica = Replica(rid, "host", 1, None, "1", T0, T0)
        self.running: set[str] = set()
        self.released: list[str] = []

    def declare(self, workers: Collection[str], enabled: Collection[str]) -> None:
        self.declared = (list(workers), set(enabled))

    def set_running(self, name: str, running: bool) -> None:
        (self.running.add if running else self.running.discard)(name)

    def register(self) -> None:
        self.board.check()

    def beat(self, held: Collection[str]) -> set[str]:
        self.board.check()
        kept = {w for w in held if self.board.leases.get(w, ("", 0.0))[0] == self.replica.id}
        for w in kept:
            self.board.leases[w] = (self.replica.id, self.board.now + TIMING.ttl_s)
        return kept

    def acquire(self, worker: str) -> bool:
        self.board.check()
        holder, end = self.board.leases.get(worker, ("", 0.0))
        if holder == self.replica.id or end <= self.board.now:
            self.board.leases[worker] = (self.replica.id, self.board.now + TIMING.ttl_s)
            return True
        return False

    def release(self, workers: Collection[str]) -> None:
        for w in workers:
            if self.board.leases.get(w, ("", 0.0))[0] == self.replica.id:
                self.board.leases[w] = (self.replica.id, self.board.now)
                self.released.append(w)

    def stopped(self) -> None:
        pass


class Started:
    """What the workers did: each start and each stop, per replica."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, str]] = []
        self.stopped = threading.Event()

    def worker(self, name: str, *, enabled: Callable[[Settings], bool] | None = None
               ) -> Worker:
        def start(plane: Any) -> Callable[[], None]:
            rid = plane.replicas.replica.id
            self.log.append(("start", name, rid))

            def stop() -> None:
                self.log.append(("stop", name, rid))
                self.stopped.set()
            return stop
        return Worker(name, start, enabled) if enabled else Worker(name, start)


def _keeper(board: Board, rid: str, started: Started, *,
            replicated: bool = True) -> LeaseKeeper:
    plane = SimpleNamespace(replicas=FakeCoordinator(board, rid, replicated=replicated),
                            settings=Settings(dr_protect_worker=False))
    workers = [started.worker("sync"), started.worker("provision"),
               started.worker("protection", enabled=lambda s: s.dr_protect_worker)]
    return LeaseKeeper(plane, workers, monotonic=lambda: board.now)  # type: ignore[arg-type]


def _wait_stop(started: Started) -> None:
    assert started.stopped.wait(10)
    started.stopped.clear()


def test_each_worker_runs_in_the_replica_holding_its_lease() -> None:
    board, started = Board(), Started()
    a, b = _keeper(board, "a", started), _keeper(board, "b", started)
    a.tick()
    b.tick()
    assert started.log == [("start", "sync", "a"), ("start", "provision", "a")]
    assert a.held() == {"sync", "provision"} and b.held() == set()
    assert a.coord.declared == (["sync", "provision", "protection"], {"sync", "provision"})
    board.now = 5.0
    a.tick()  # renewed to 11
    board.now = 10.0
    b.tick()
    assert b.held() == set()


def test_a_dead_holder_is_replaced_within_ttl_plus_renew() -> None:
    board, started = Board(), Started()
    a, b = _keeper(board, "a", started), _keeper(board, "b", started)
    a.tick()  # a holds until 6, then dies: it renews no more
    took = None
    for step in range(1, 20):  # b looks every renew_s
        board.now = step * TIMING.renew_s
        b.tick()
        if b.held():
            took = board.now
            break
    assert took is not None and took <= TIMING.takeover_bound_s
    assert b.held() == {"sync", "provision"}


def test_a_lease_taken_elsewhere_stops_the_worker_here() -> None:
    board, started = Board(), Started()
    a, b = _keeper(board, "a", started), _keeper(board, "b", started)
    a.tick()
    board.leases["sync"] = ("b", 100.0)  # b took it (a's lease had lapsed unnoticed)
    a.tick()
    _wait_stop(started)
    assert ("stop", "sync", "a") in started.log and a.held() == {"provision"}
    assert b.held() == set()


def test_a_replica_cut_off_from_the_database_stops_before_its_leases_end() -> None:
    board, started = Board(), Started()
    a = _keeper(board, "a", started)
    a.tick()  # renewed at 0: the leases end at 6
    board.down = True
    board.now = 2.0
    with pytest.raises(DatabaseUnavailable):
        a.tick()
    a.fence()
    assert a.held() == {"sync", "provision"}  # 2 s without renewal: still its own
    board.now = TIMING.fence_after_s + 0.1
    a.fence()
    assert a.held() == set()
    _wait_stop(started)
    assert board.now < TIMING.ttl_s  # stopped before anyone may take the leases
    board.down = False
    board.now = 5.0
    assert a.wait_halted(10)  # the stops run on threads of their own
    a.tick()  # back: its leases are still its own, the workers start again
    assert a.held() == {"sync", "provision"}


def test_a_clean_stop_gives_the_leases_up_at_once() -> None:
    board, started = Board(), Started()
    a, b = _keeper(board, "a", started), _keeper(board, "b", started)
    a.tick()
    a.stop()
    assert sorted(a.coord.released) == ["provision", "sync"]  # type: ignore[attr-defined]
    assert ("stop", "sync", "a") in started.log
    b.tick()
    assert b.held() == {"sync", "provision"}  # no ttl to wait out


def test_on_sqlite_every_worker_turned_on_starts() -> None:
    board, started = Board(down=True), Started()
    keeper = _keeper(board, "solo", started, replicated=False).start()
    assert started.log == [("start", "sync", "solo"), ("start", "provision", "solo")]
    keeper.stop()
    assert [e for e in started.log if e[0] == "stop"] == [("stop", "provision", "solo"),
                                                         ("stop", "sync", "solo")]


def test_two_workers_may_not_share_a_name() -> None:
    started = Started()
    plane = SimpleNamespace(replicas=FakeCoordinator(Board(), "a"), settings=Settings())
    with pytest.raises(ValueError, match="share a name"):
        LeaseKeeper(plane, [started.worker("sync"), started.worker("sync")])  # type: ignore[arg-type]
