"""The compaction worker: compacts the database as the retention policy says
(``services/retention.py``) when the server starts and then every ``compact_interval_s``
(a day by default). ``stop()`` wakes the thread and waits for a compaction in progress."""

from __future__ import annotations

from collections.abc import Callable

from govcloud.services.plane import Plane
from govcloud.services.retention import compact
from govcloud.workers.probe import PeriodicWorker


def start_compaction_worker(plane: Plane) -> Callable[[], None]:
    """Start the compaction worker of ``plane``; returns the function that stops it."""
    policy = plane.settings.retention_policy()

    def run() -> None:
        compact(plane.engine, policy=policy, now=plane.clock())

    worker = PeriodicWorker(run, interval_s=plane.settings.compact_interval_s,
                            name="govcloud-compaction").start()
    return worker.stop
