"""The change-window worker (docs/changes.md, "When a window closes"): every
``change_window_poll_s`` it takes up the migration waves, DR drills and lifecycle requests
waiting for their change's window — stopped at a safe step when a window closed, or planned
for a change whose window had not opened — once that window lets them run
(``services.change_windows.resume_due``). What it resumes runs as the person who started it,
in this process's runs, exactly as a run started through the API; a lifecycle request is
handed back to the provisioning job worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from govcloud.domain.changes import OperationKind
from govcloud.services import drill, lifecycle_change, migration_change
from govcloud.services.change_windows import OpenLink, Resumer, resume_due
from govcloud.services.plane import Plane
from govcloud.services.plane_contexts import changes, drill_context, run_context

log = logging.getLogger(__name__)


def resumers(plane: Plane) -> dict[str, Resumer]:
    """The resumer of each kind of operation that waits for a window, on ``plane``."""
    def wave(link: OpenLink) -> bool:
        return migration_change.resume(run_context(plane), plane.migration_runs,
                                       changes(plane), link)

    def drill_run(link: OpenLink) -> bool:
        return drill.resume(drill_context(plane), plane.drill_runs, link)

    def lifecycle(link: OpenLink) -> bool:
        worker = plane.provision_worker
        return lifecycle_change.resume(plane.provisioning, link,
                                       worker.wake if worker is not None else None)

    return {OperationKind.MIGRATION_WAVE.value: wave, OperationKind.DR_DRILL.value: drill_run,
            OperationKind.LIFECYCLE.value: lifecycle}


class ChangeWindowWorker:
    """Calls ``round_`` every ``interval_s`` until stopped."""

    def __init__(self, round_: Callable[[], list[str]], *, interval_s: float) -> None:
        self.round, self.interval_s = round_, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                started = self.round()
                if started:
                    log.info("change windows: resumed %s", ", ".join(started))
            except Exception:  # the loop outlives any one failure (the database, say)
                log.exception("change windows: round failed")
            self._stop.wait(self.interval_s)

    def start(self) -> ChangeWindowWorker:
        self._thread = threading.Thread(target=self._loop, name="govcloud-change-windows",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def start_change_window_worker(plane: Plane) -> Callable[[], None]:
    """Start the change-window worker of ``plane``; returns the function that stops it."""
    kinds = resumers(plane)
    worker = ChangeWindowWorker(lambda: resume_due(changes(plane), kinds),
                                interval_s=plane.settings.change_window_poll_s).start()
    plane.change_window_worker = worker
    return worker.stop
