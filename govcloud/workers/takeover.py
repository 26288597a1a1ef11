"""The takeover workers (docs/high-availability.md, "Long runs"): ``migration`` resumes the
migration waves (runs and rollbacks), ``drills`` the DR drills, whose replica died in the
middle of them (``services.run_takeover``). Each looks every ``migrate_stale_after_s / 2``
(between 1 and 15 s) for a run whose heartbeat is older than ``migrate_stale_after_s`` and
resumes it in this process, where the API can follow and cancel it as any other."""

from __future__ import annotations

import logging
from collections.abc import Callable

from govcloud.services.plane import Plane
from govcloud.services.plane_contexts import changes, drill_context, run_context
from govcloud.services.run_takeover import take_over_drills, take_over_waves
from govcloud.workers.probe import PeriodicWorker

log = logging.getLogger(__name__)


def interval_s(plane: Plane) -> float:
    """How often a takeover worker looks for dead runs."""
    return max(1.0, min(plane.settings.migrate_stale_after_s / 2, 15.0))


def _periodic(plane: Plane, name: str, round_: Callable[[], list[str]]) -> Callable[[], None]:
    def run() -> None:
        taken = round_()
        if taken:
            log.warning("took over the dead runs of %s", ", ".join(taken))

    return PeriodicWorker(run, interval_s=interval_s(plane), name=name).start().stop


def start_migration_takeover(plane: Plane) -> Callable[[], None]:
    """Start the ``migration`` takeover worker of ``plane``; returns its stop function."""
    return _periodic(plane, "govcloud-migration-takeover", lambda: take_over_waves(
        run_context(plane), plane.migration_runs, changes(plane),
        replica=plane.replicas.replica.id))


def start_drill_takeover(plane: Plane) -> Callable[[], None]:
    """Start the ``drills`` takeover worker of ``plane``; returns its stop function."""
    return _periodic(plane, "govcloud-drill-takeover", lambda: take_over_drills(
        drill_context(plane), plane.drill_runs, replica=plane.replicas.replica.id))
