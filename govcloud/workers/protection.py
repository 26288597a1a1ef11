"""The protection worker: every ``dr_protect_tick_s`` (default 30 s) it runs a protection
cycle of every copy server that is due (docs/dr.md, "Protection cycles": an interval per copy
kind after a good cycle, an exponential backoff after failed ones), at most
``dr_protect_concurrency`` at once; a failed cycle is logged with its reason and recorded as
a failed point (``services.protection.failing_copies`` lists them). Off with
``dr_protect_worker: false``. ``stop()`` cancels the cycles under way (their sync job ends,
the copy is put back, the cycle recorded as not ok) and waits for the round to end."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from govcloud.services.plane import Plane
from govcloud.workers.probe import PeriodicWorker

log = logging.getLogger(__name__)


def start_protection_worker(plane: Plane) -> Callable[[], None]:
    """Start the protection worker of ``plane`` (unless the settings turn it off); returns
    the function that stops it."""
    settings = plane.settings
    if not settings.dr_protect_worker:
        return lambda: None
    cancel = threading.Event()

    def round_() -> None:
        results = plane.protector.run_due(cancel)
        if results:
            failed = sum(1 for r in results if r.point is not None and r.point.status != "ok")
            log.info("protection: %d cycles, %d not ok", len(results), failed)

    worker = PeriodicWorker(round_, interval_s=settings.dr_protect_tick_s,
                            name="govcloud-protect").start()
    plane.protection_worker = worker

    def stop() -> None:
        cancel.set()
        worker.stop(timeout=max(30.0, settings.dr_protect_timeout_s))

    return stop
