"""The provisioning job worker: it provisions approved requests through openstacksdk.

It runs inside the control plane (``start_provision_worker(plane)``), looks for approved
requests every ``provision_poll_s`` and for requests left in ``provisioning`` (a worker that
stopped, a server killed with -9), and works each one in its own thread. A system's lifecycle
requests (scale, resize, retire: docs/lifecycle.md) are requests too: it runs them with a
``LifecycleRunner``; one that waits (a retirement's grace period) is left until its time.
What it does for a request — cloud calls, retries, adoption, clean-up, the targeted
inventory refresh — is ``govcloud.services.provisioning_execution.Provisioner``; its state
changes are the provisioning services'.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from govcloud.errors import DatabaseUnavailable, GovCloudError
from govcloud.services import provisioning_lifecycle as svc
from govcloud.services.lifecycle_run import LifecycleRunner
from govcloud.services.plane import Plane
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_execution import (
    FAULT_KILL_AFTER_CREATE,
    Provisioner,
    WorkerSettings,
    group_name,
)

__all__ = ["FAULT_KILL_AFTER_CREATE", "ProvisionWorker", "WorkerSettings", "group_name",
           "start_provision_worker"]

log = logging.getLogger(__name__)

Connections = Callable[[], Mapping[str, Any]]


class ProvisionWorker:
    def __init__(self, ctx: ProvisioningContext, *, connections: Connections,
                 settings: WorkerSettings | None = None,
                 refresh: Callable[[Sequence[str]], Any] | None = None) -> None:
        settings = settings or WorkerSettings()
        self.ctx = ctx
        self.connections = connections
        self.settings = settings
        self.refresh = refresh
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self.provisioner = Provisioner(ctx, connections=connections, settings=settings,
                                       refresh=refresh, stop=self._stop)
        self.lifecycle = LifecycleRunner(ctx, self.provisioner, soak_s=settings.resize_soak_s)

    # --- the loop ------------------------------------------------------------------------------

    def start(self) -> ProvisionWorker:
        self._thread = threading.Thread(target=self._loop, name="provision-worker",
                                        daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for t in list(self._threads):
            t.join(max(0.1, timeout / max(1, len(self._threads))))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except DatabaseUnavailable as exc:  # failing over: try next time
                log.warning("provision worker: polling failed: %s", exc.message)
            except Exception:  # the database may be briefly unavailable: try next time
                log.exception("provision worker: polling failed")
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()

    def poll(self) -> list[threading.Thread]:
        """Start a thread for every request waiting for work that none is working on."""
        started = []
        for rid, _state in svc.pending(self.ctx):
            with self._lock:
                if rid in self._busy:
                    continue
                self._busy.add(rid)
            t = threading.Thread(target=self._guarded, args=(rid,), name=f"provision-{rid}",
                                 daemon=True)
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()
            started.append(t)
        return started

    def _guarded(self, rid: int) -> None:
        try:
            self.run(rid)
        except DatabaseUnavailable as exc:  # failing over: resumed (and adopted) once it is back
            log.warning("request %s: provisioning paused, the database is unavailable: %s",
                        rid, exc.message, extra={"request": rid})
        except Exception as exc:  # never let a request's thread die silently
            log.exception("request %s: provisioning crashed", rid, extra={"request": rid})
            message = exc.message if isinstance(exc, GovCloudError) else \
                f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(GovCloudError):
                svc.fail(self.ctx, rid, message)
        finally:
            with self._lock:
                self._busy.discard(rid)

    def run(self, rid: int) -> dict[str, Any] | None:
        """Work on request ``rid`` now, in this thread: provision it (``Provisioner.run``),
        or run a system's scale, resize or retirement (``LifecycleRunner.run``)."""
        if svc.request_kind(self.ctx, rid) != "provision":
            return self.lifecycle.run(rid)
        return self.provisioner.run(rid)


def start_provision_worker(plane: Plane) -> Callable[[], None]:
    """Start the worker of a control plane; returns its stop function."""
    settings = WorkerSettings.from_settings(plane.settings)

    def refresh(sites: Sequence[str]) -> None:
        plane.syncer.sync(sites)

    worker = ProvisionWorker(plane.provisioning, connections=plane.clouds.connections,
                             settings=settings, refresh=refresh).start()
    plane.provision_worker = worker
    return worker.stop
