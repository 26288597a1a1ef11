"""Background workers of the control plane (sync loop, provisioning job worker, region API
probes, protection cycles, the notifier, the change windows, compaction, the takeover of
the migration waves and DR drills whose replica died).

Every worker is listed once in ``WORKERS`` — its lease's name, its start function (given the
plane, it returns the function that stops it) and whether the settings turn it on — and
``start_workers`` runs them all through one ``LeaseKeeper`` (``govcloud.workers.leases``): on
PostgreSQL each runs in exactly one of the replicas sharing the database, taken over by
another within ``lease_ttl_s + lease_renew_s`` when its replica dies; on SQLite all of them run
in the one process. A new worker is one more line in ``WORKERS`` (docs/high-availability.md,
"Adding a worker")."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from govcloud.services.plane import Plane
from govcloud.settings import Settings
from govcloud.workers.change_windows import start_change_window_worker
from govcloud.workers.compaction import start_compaction_worker
from govcloud.workers.leases import LeaseKeeper, Worker
from govcloud.workers.notifier import start_notifier_worker
from govcloud.workers.probe import start_probe_worker
from govcloud.workers.protection import start_protection_worker
from govcloud.workers.provision import start_provision_worker
from govcloud.workers.sync import start_workers as start_sync_worker
from govcloud.workers.takeover import start_drill_takeover, start_migration_takeover


def _notifying(s: Settings) -> bool:
    """Is the notifier wanted: forced either way by ``notify_worker``, else when e-mail or a
    webhook is configured (docs/notifications.md)."""
    if s.notify_worker is not None:
        return s.notify_worker
    return bool(s.notify_smtp_host or s.notify_webhooks or s.notify_webhooks_file)


def _replicated(s: Settings) -> bool:
    """Does the database have replicas to share it (PostgreSQL)? The takeover workers run
    only then: a lone SQLite process leaves a dead run to its operator."""
    return s.database_url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


WORKERS: tuple[Worker, ...] = (
    Worker("sync", start_sync_worker),
    Worker("provision", start_provision_worker),
    Worker("probe", start_probe_worker),
    Worker("protection", start_protection_worker, enabled=lambda s: s.dr_protect_worker),
    Worker("notifier", start_notifier_worker, enabled=_notifying),
    Worker("change-windows", start_change_window_worker, beside_api=True),
    Worker("compaction", start_compaction_worker),
    Worker("migration", start_migration_takeover, enabled=_replicated, beside_api=True),
    Worker("drills", start_drill_takeover, enabled=_replicated, beside_api=True),
)
# where they run when ``govcloud serve`` has a worker process (govcloud/workers/process.py):
# the runs a worker starts are the process's own (cancel, ``--follow`` and ``running`` ask the
# process that serves the API), so the workers that start waves and drills stay beside it
BESIDE_API: tuple[Worker, ...] = tuple(w for w in WORKERS if w.beside_api)
IN_WORKER_PROCESS: tuple[Worker, ...] = tuple(w for w in WORKERS if not w.beside_api)


def start_workers(plane: Plane, workers: Sequence[Worker] = WORKERS) -> Callable[[], None]:
    """The server's hook (``make_app(workers=start_workers)``): run ``workers`` (default: every
    worker of ``WORKERS`` the settings turn on) under this replica's leases; returns the
    function that stops them and gives their leases up."""
    keeper = LeaseKeeper(plane, workers).start()
    plane.lease_keeper = keeper
    return keeper.stop


__all__ = ["BESIDE_API", "IN_WORKER_PROCESS", "WORKERS", "LeaseKeeper", "Worker",
           "start_sync_worker", "start_workers"]
