"""Background workers of the control plane (sync loop, provisioning job worker, region API
probes, protection cycles, the notifier, the change windows, compaction)."""

from __future__ import annotations

from collections.abc import Callable

from govcloud.services.plane import Plane
from govcloud.workers.change_windows import start_change_window_worker
from govcloud.workers.compaction import start_compaction_worker
from govcloud.workers.notifier import start_notifier_worker
from govcloud.workers.probe import start_probe_worker
from govcloud.workers.protection import start_protection_worker
from govcloud.workers.provision import start_provision_worker
from govcloud.workers.sync import start_workers as start_sync_worker


def start_workers(plane: Plane) -> Callable[[], None]:
    """The server's hook (``make_app(workers=start_workers)``): start the sync worker, the
    provisioning job worker, the probe worker, the protection worker (unless
    ``dr_protect_worker`` is off), the notifier (when notifications are configured) and the
    change-window and compaction (retention) workers of ``plane``; returns the function that
    stops them."""
    stops = [start_sync_worker(plane), start_provision_worker(plane),
             start_probe_worker(plane), start_protection_worker(plane),
             start_notifier_worker(plane), start_change_window_worker(plane),
             start_compaction_worker(plane)]

    def stop() -> None:
        for fn in reversed(stops):
            fn()

    return stop


__all__ = ["start_sync_worker", "start_workers"]
