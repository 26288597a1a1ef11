"""Background workers of the control plane (sync loop, provisioning job worker, region API
probes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govcloud.workers.sync import start_workers as start_sync_worker


def start_workers(state: Any) -> Callable[[], None]:
    """The server's hook: start the sync worker, the provisioning job worker and the probe
    worker on the app's state; returns the function that stops them."""
    from govcloud.workers.probe import start_probe_worker
    from govcloud.workers.provision import start_provision_worker

    stops = [start_sync_worker(state), start_provision_worker(state),
             start_probe_worker(state)]

    def stop() -> None:
        for fn in reversed(stops):
            fn()

    return stop


__all__ = ["start_sync_worker", "start_workers"]
