"""The probe worker: probes every site's service APIs every ``interval_s`` (default 30 s)
and refreshes the metrics snapshot after each round. ``stop()`` wakes the thread and waits
for the round in progress to end."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from govcloud.services.health import Prober
from govcloud.services.metrics import MetricsSnapshots
from govcloud.services.plane import Plane

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Runs ``task`` now and then every ``interval_s`` on its own thread until stopped."""

    def __init__(self, task: Callable[[], Any], *, interval_s: float, name: str) -> None:
        self.task = task
        self.interval_s = interval_s
        self.name = name
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.task()
            except Exception:  # the loop must outlive any one failure
                log.exception("%s: run failed", self.name)
            with self._done:
                self.runs += 1
                self._done.notify_all()
            self._stop.wait(self.interval_s)

    def start(self) -> PeriodicWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def wait_for_runs(self, count: int, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self.runs >= count, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def probe_round(prober: Prober, snapshots: MetricsSnapshots) -> Callable[[], None]:
    """One round: probe every site, store the results, refresh the metrics snapshot."""

    def run() -> None:
        prober.run()
        snapshots.refresh()

    return run


def start_probe_worker(plane: Plane) -> Callable[[], None]:
    """Start the probe worker of ``plane``; returns the function that stops it."""
    worker = PeriodicWorker(probe_round(plane.prober, plane.metrics),
                            interval_s=plane.settings.probe_interval_s,
                            name="govcloud-probe").start()
    plane.probe_worker = worker

    def stop() -> None:
        worker.stop()
        plane.prober.close()

    return stop
