"""Background workers of the control plane (sync loop, job queue)."""

from govcloud.workers.sync import start_workers

__all__ = ["start_workers"]
