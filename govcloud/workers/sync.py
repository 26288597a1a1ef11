"""The sync worker: one thread that keeps the inventory fresh.

An incremental sync every ``interval_s`` (default 60 s) and a full reconcile every
``full_interval_s`` (default 15 min) — the first run after start is always full, which is also
how a server killed in the middle of a sync recovers. The next run is scheduled when the last
one finished (never two at once, never a backlog). ``stop()`` wakes the thread and waits for
the run in progress to end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from govcloud.heap import settle
from govcloud.services.dr_posture_held import HeldPostures
from govcloud.services.metrics import MetricsSnapshots
from govcloud.services.plane import Plane
from govcloud.services.sync import Syncer, SyncReport

log = logging.getLogger(__name__)


class SyncWorker:
    def __init__(self, syncer: Syncer, *, interval_s: float = 60.0,
                 full_interval_s: float = 900.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 after: Callable[[SyncReport], Any] | None = None) -> None:
        self.syncer = syncer
        self.after = after
        self.interval_s = interval_s
        self.full_interval_s = full_interval_s
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self._last_full: float | None = None
        self.runs = 0
        self.last_report: SyncReport | None = None

    def due_full(self) -> bool:
        return self._last_full is None or \
            self._monotonic() - self._last_full >= self.full_interval_s

    def run_once(self) -> SyncReport:
        """One sync: full when a reconcile is due, else incremental."""
        full = self.due_full()
        started = self._monotonic()
        report = self.syncer.sync(full=full)
        if full:
            self._last_full = started
        if self.after is not None:
            try:
                self.after(report)
            except Exception:  # a failing follow-up must not fail the sync
                log.exception("sync worker: follow-up after the sync failed")
        with self._done:
            self.runs += 1
            self.last_report = report
            self._done.notify_all()
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
                if not report.ok:
                    failed = [r.site for r in report.results if not r.ok]
                    log.warning("sync: %s stale", ", ".join(failed))
            except Exception:  # the loop must outlive any one failure
                log.exception("sync worker: run failed")
                with self._done:
                    self.runs += 1
                    self._done.notify_all()
            self._stop.wait(self.interval_s)

    def start(self) -> SyncWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="govcloud-sync",
                                            daemon=True)
            self._thread.start()
        return self

    def wait_for_runs(self, count: int, timeout: float) -> bool:
        """Block until ``count`` runs have finished (or ``timeout`` seconds passed)."""
        with self._done:
            return self._done.wait_for(lambda: self.runs >= count, timeout=timeout)

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _after_sync(snapshots: MetricsSnapshots, postures: HeldPostures) -> None:
    snapshots.refresh()
    postures.refresh_soon()  # the DR posture, judged again in the background once read
    log.debug("sync worker: heap settled in %.3f s", settle())


def start_workers(plane: Plane) -> Callable[[], None]:
    """Start the sync worker of ``plane`` (its syncer, shared with ``POST /sync``) — after
    each run it refreshes the plane's metrics snapshot (and, in the background, its held DR
    posture once one has been read) and settles the heap
    (``govcloud.heap.settle``: the new snapshot's objects leave the garbage collector's full
    passes) — and return the function that stops it."""
    settings, snapshots = plane.settings, plane.metrics
    worker = SyncWorker(plane.syncer, interval_s=settings.sync_interval_s,
                        full_interval_s=settings.full_sync_interval_s,
                        after=lambda _report: _after_sync(snapshots, plane.dr_posture)).start()
    plane.sync_worker = worker
    return worker.stop
