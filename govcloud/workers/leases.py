"""Each background worker runs in exactly one replica: the one holding its lease
(``govcloud.domain.replicas`` has the rules, docs/high-availability.md the operator's view).

A ``LeaseKeeper`` is given the workers (``Worker``: a name and the function that starts it
on a plane and returns its stop function). On PostgreSQL it takes every lease it can at once
(so a lone replica starts its workers as it starts), then every ``lease_renew_s`` on its
thread renews the leases it holds, stops a worker whose lease another replica took, and takes
the expired ones. A fence thread stops every worker once no renewal has succeeded for
``ttl - renew`` seconds (the database is unreachable), before the lease can expire and be
taken elsewhere. Stopping runs on a thread of its own, so a slow stop never holds up the
renewals of the other leases. On SQLite (one process) every worker simply starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from govcloud.domain.replicas import check_worker_name
from govcloud.services.plane import Plane
from govcloud.services.replicas import Coordinator
from govcloud.settings import Settings

log = logging.getLogger(__name__)

Start = Callable[[Plane], Callable[[], None]]
STOP_TIMEOUT_S = 90.0


def _always(_settings: Settings) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Worker:
    """A background worker: its lease's name, how to start it on a plane (returning the
    function that stops it) and whether the settings turn it on."""

    name: str
    start: Start
    enabled: Callable[[Settings], bool] = _always
    # runs in the process that serves the API even when serve has a worker process: it
    # starts runs (waves, drills) there, where cancel and --follow find them
    beside_api: bool = False

    def __post_init__(self) -> None:
        check_worker_name(self.name)


class LeaseKeeper:
    """Starts and stops ``workers`` on ``plane`` as this replica takes and loses their
    leases; ``stop()`` stops them all and gives their leases up."""

    def __init__(self, plane: Plane, workers: Sequence[Worker], *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        names = [w.name for w in workers]
        if len(set(names)) != len(names):
            raise ValueError(f"two workers share a name: {names}")
        self.plane = plane
        self.coord: Coordinator = plane.replicas
        self.workers = {w.name: w for w in workers if w.enabled(plane.settings)}
        self.coord.declare(names, self.workers)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._stops: dict[str, Callable[[], None]] = {}
        self._stopping: dict[str, threading.Thread] = {}
        self._valid_until = 0.0
        self._done = threading.Event()
        self._threads: list[threading.Thread] = []
        self.ticks = 0

    # --- starting and stopping one worker ----------------------------------------------------

    def _start(self, name: str) -> None:
        log.info("worker %s: starting in replica %s", name, self.coord.replica.id)
        stop = self.workers[name].start(self.plane)
        with self._lock:
            self._stops[name] = stop
        self.coord.set_running(name, True)

    def _halt(self, name: str, why: str) -> None:
        """Stop worker ``name`` on a thread of its own (its lease is no longer ours)."""
        with self._lock:
            stop = self._stops.pop(name, None)
        if stop is None:
            return
        log.warning("worker %s: stopping in replica %s: %s", name, self.coord.replica.id, why)

        def run() -> None:
            try:
                stop()
            except Exception:  # a failing stop must not take the keeper down
                log.exception("worker %s: stopping failed", name)
            finally:
                self.coord.set_running(name, False)
                with self._lock:
                    self._stopping.pop(name, None)

        thread = threading.Thread(target=run, name=f"govcloud-halt-{name}", daemon=True)
        with self._lock:
            self._stopping[name] = thread
        thread.start()

    def held(self) -> set[str]:
        with self._lock:
            return set(self._stops)

    def wait_halted(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Wait for the workers being stopped on threads of their own; whether they all
        stopped within ``timeout``."""
        with self._lock:
            threads = list(self._stopping.values())
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)

    # --- the rounds ----------------------------------------------------------------------------

    def tick(self) -> None:
        """One round: renew what we hold, let go of what another replica took, take what
        expired (a worker still stopping here is not started again until it has stopped)."""
        sent = self._monotonic()
        held = self.held()
        kept = self.coord.beat(held)
        self._valid_until = sent + self.coord.timing.fence_after_s
        for name in sorted(held - kept):
            self._halt(name, "another replica holds its lease")
        for name in self.workers:
            with self._lock:
                busy = name in self._stops or name in self._stopping
            if not busy and self.coord.acquire(name):
                self._start(name)
        self.ticks += 1

    def _loop(self) -> None:
        renew = self.coord.timing.renew_s
        while not self._done.wait(renew):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the database may be failing over
                log.warning("leases: could not renew (%s): %s", type(exc).__name__, exc)

    def fence(self) -> None:
        """Stop every worker held here once no renewal has succeeded for ``fence_after_s``
        (the database is out of reach: the leases may expire and be taken elsewhere)."""
        if self.held() and self._monotonic() > self._valid_until:
            for name in sorted(self.held()):
                self._halt(name, f"no lease renewal for {self.coord.timing.fence_after_s:g} s")

    def _fence(self) -> None:
        while not self._done.wait(0.1):
            self.fence()

    def start(self) -> LeaseKeeper:
        if not self.coord.replicated:  # SQLite: one process, every worker here
            for name in self.workers:
                self._start(name)
            return self
        try:
            self.coord.register()
            self.tick()  # a lone replica starts its workers now, not a round later
        except Exception as exc:  # noqa: BLE001 - failing over? the loop tries again
            log.warning("leases: first round failed (%s): %s", type(exc).__name__, exc)
        for target, name in ((self._loop, "govcloud-leases"), (self._fence, "govcloud-fence")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the rounds, then every worker (in reverse order of the list), then give their
        leases up so another replica takes them at its next round."""
        self._done.set()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT_S)
        with self._lock:
            stops = dict(self._stops)
            self._stops.clear()
            stopping = list(self._stopping.values())
        for name in reversed(list(self.workers)):
            if name in stops:
                try:
                    stops[name]()
                except Exception:
                    log.exception("worker %s: stopping failed", name)
                self.coord.set_running(name, False)
        for thread in stopping:
            thread.join(STOP_TIMEOUT_S)
        if not self.coord.replicated:
            return
        try:
            self.coord.release(stops)
            self.coord.stopped()
        except Exception as exc:  # noqa: BLE001 - the leases then expire by themselves
            log.warning("leases: could not give the leases up (%s): %s",
                        type(exc).__name__, exc)
