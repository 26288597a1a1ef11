"""The contexts of the long-running operations, made from a running plane: what the API
routes hand their use cases, and what the change-window worker resumes runs with — the
same store, clock, connections, run timings, notifier and change gate (docs/changes.md)."""

from __future__ import annotations

from govcloud.services.changes import ChangeContext, change_context
from govcloud.services.drill_state import DrillContext
from govcloud.services.failover_state import FailoverContext
from govcloud.services.host_state import HostsContext
from govcloud.services.migration_run import RunContext
from govcloud.services.migration_targets import CloudTargets
from govcloud.services.plane import Plane
from govcloud.services.protection import ProtectorFinalCycle


def changes(plane: Plane) -> ChangeContext:
    return change_context(plane)


def _heartbeat(plane: Plane) -> tuple[float, float]:
    stale = plane.settings.migrate_stale_after_s
    return stale, max(0.2, min(2.0, stale / 5))


def run_context(plane: Plane) -> RunContext:
    """A migration wave's run (targets provisioned through the plane)."""
    stale, beat = _heartbeat(plane)
    return RunContext(engine=plane.engine, settings=plane.settings,
                      provisioner=CloudTargets(plane), clock=plane.clock,
                      stale_after_s=stale, heartbeat_s=beat)


def drill_context(plane: Plane) -> DrillContext:
    stale, beat = _heartbeat(plane)
    return DrillContext(engine=plane.engine, settings=plane.settings,
                        connections=plane.clouds.connections, clock=plane.clock,
                        stale_after_s=stale, heartbeat_s=beat,
                        active_timeout_s=plane.settings.provision_active_timeout_s,
                        notify=plane.notifier, changes=changes(plane))


def failover_context(plane: Plane) -> FailoverContext:
    stale, beat = _heartbeat(plane)
    return FailoverContext(engine=plane.engine, settings=plane.settings,
                           connections=plane.clouds.connections, clock=plane.clock,
                           stale_after_s=stale, heartbeat_s=beat,
                           active_timeout_s=plane.settings.provision_active_timeout_s,
                           final_cycle=ProtectorFinalCycle(plane.protector),
                           changes=changes(plane))


def hosts_context(plane: Plane) -> HostsContext:
    stale, beat = _heartbeat(plane)

    def refresh(site: str) -> None:
        plane.syncer.sync([site])

    return HostsContext(engine=plane.engine, sites=plane.sites,
                        connections=plane.clouds.connections, refresh=refresh,
                        clock=plane.clock, stale_after_s=stale, heartbeat_s=beat,
                        move_timeout_s=plane.settings.provision_active_timeout_s,
                        changes=changes(plane), notifier=plane.notifier)
