"""The operator scorecard for a month (issue 20, ``govcloud.domain.scorecard``), from what
govcloud holds: the hours each site was read and the ACTIVE server-hours of each department
(metering), the provisioning requests' times, the migration waves and their steps, the DR
posture and the drills held, the capacity and its forecast (both as of the month's end for a
month that is over — the recovery points, drills and capacity samples up to then — as of now
for the current month), the failures the per-department alerts fire on (recovery points,
drills, migration steps) and the episodes of Prometheus' alerts that Alertmanager posted
(``services.alert_history``).

RBAC: ``statement.view`` on the whole cloud — the bureau, its auditors, the operator and CI;
a department-viewer or a city-operator assesses no operator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.alert_history import fired
from govcloud.domain.forecast import Sample, days_to_full
from govcloud.domain.metering import Month
from govcloud.domain.protection import DrillState
from govcloud.domain.rbac import GLOBAL, Action, Principal, require
from govcloud.domain.recovery import DrillResult
from govcloud.domain.scorecard import (
    AlertSource,
    DrState,
    Incident,
    PointOutcome,
    ServerHours,
    SiteCapacity,
    Targets,
    alerts,
    availability,
    capacity,
    compute_availability,
    dr,
    fulfilment,
    migration,
    prometheus_alerts,
    protection_incidents,
    server_availability,
)
from govcloud.domain.sites import Site
from govcloud.errors import GovCloudError
from govcloud.services import alert_history, inventory
from govcloud.services.dr_posture import Posture
from govcloud.store import inventory as inventory_store
from govcloud.store import metering_repo, protection_repo
from govcloud.store import migration as migration_store
from govcloud.store import statements_repo as repo

Clock = Callable[[], dt.datetime]


def _dr_state(posture: Callable[[], Posture] | None, drills: list[str], month: Month,
              now: dt.datetime,
              posture_at: Callable[[dt.datetime], Posture] | None) -> DrState | None:
    """As of the month's end once it is over (when ``posture_at`` can judge a past moment),
    else as of now."""
    past = now >= month.end and posture_at is not None
    if posture is None and not past:
        return None
    try:
        if past:
            assert posture_at is not None
            held = posture_at(month.end)
            as_of = (f"the month's end ({month.end:%Y-%m-%d %H:%M} UTC): recovery points "
                     "and drills up to then, servers as last synced")
        else:
            assert posture is not None
            held = posture()
            as_of = f"now ({now:%Y-%m-%d %H:%M} UTC)"
    except GovCloudError:
        return None
    overdue = sum(1 for s in held.systems if s.verdict.drill.state is DrillState.OVERDUE)
    totals = held.province
    return DrState(totals.systems, totals.compliant, totals.at_risk, totals.non_compliant,
                   overdue, drills.count(DrillResult.PASSED.value),
                   drills.count(DrillResult.FAILED.value), as_of)


def _capacity(engine: Engine, sites: Sequence[Site], month: Month, now: dt.datetime,
              cache: inventory.SnapshotCache | None) -> list[SiteCapacity]:
    """As of the month's end for a month that is over (its last capacity sample, the trend
    of the samples up to then), as of now for the current month."""
    if now < month.end:
        return _capacity_now(engine, sites, now, cache)
    out = []
    with engine.connect() as conn:
        for site in sites:
            history = inventory_store.samples(conn, site.name, before=month.end)
            if not history:
                out.append(SiteCapacity(site.name, 0, 0, None, "not-enough-history",
                                        "the month's end (no sync in it or before)"))
                continue
            last = history[-1]
            total = int(last["vcpu_capacity"])
            forecast = days_to_full([Sample(h["at"], float(h["vcpu_allocated"]))
                                     for h in history], float(total), now=month.end)
            out.append(SiteCapacity(site.name, total, total - int(last["vcpu_allocated"]),
                                    forecast.days, forecast.status.value,
                                    f"{last['at']:%Y-%m-%d %H:%M} UTC (the month's last sync)"))
    return out


def _capacity_now(engine: Engine, sites: Sequence[Site], now: dt.datetime,
                  cache: inventory.SnapshotCache | None) -> list[SiteCapacity]:
    out = []
    for s in inventory.capacity(engine, sites=sites, now=now, cache=cache)["sites"]:
        forecast = s["forecast_vcpus"]
        out.append(SiteCapacity(s["site"], int(s["vcpus"]["capacity"]),
                                int(s["vcpus"]["headroom"]), forecast["days"],
                                str(forecast["status"]), f"now ({now:%Y-%m-%d %H:%M} UTC)"))
    return out


def _incidents(conn: Any, month: Month) -> list[Incident]:
    points = [PointOutcome(*p) for p in protection_repo.point_outcomes(conn, month.start,
                                                                       month.end)]
    return [*protection_incidents(points),
            *(Incident(d, AlertSource.DRILL, at)
              for d, at in protection_repo.failed_drills(conn, month.start, month.end)),
            *(Incident(d, AlertSource.MIGRATION, at)
              for d, at in migration_store.step_failures(conn, month.start, month.end))]


def scorecard(engine: Engine, principal: Principal, month: Month, *, sites: Sequence[Site],
              targets: Targets, clock: Clock, posture: Callable[[], Posture] | None = None,
              posture_at: Callable[[dt.datetime], Posture] | None = None,
              cache: inventory.SnapshotCache | None = None) -> dict[str, Any]:
    """The month's scorecard; DR (given ``posture_at``) and capacity as of the month's end
    once it is over, as of now for the current month."""
    require(principal, Action.STATEMENT_VIEW, GLOBAL)
    now = clock()
    with engine.connect() as conn:
        hours = metering_repo.site_hours(conn, month.start, month.end)
        host_samples = inventory_store.host_samples(conn, month.start, month.end)
        servers = [ServerHours(*r) for r in metering_repo.server_hours(conn, month)]
        requests = repo.request_times(conn, month)
        drills = repo.drills(conn, month)
        waves = migration_store.wave_progress(conn, month.end)
        incidents = _incidents(conn, month)
    end = min(month.end, now)
    episodes, told_since = alert_history.fired_between(engine, month.start, end)
    figures = [
        *availability(month, [s.name for s in sites], hours, until=now,
                      target=targets.availability_pct),
        *compute_availability([s.name for s in sites], host_samples,
                              target=targets.availability_pct),
        *server_availability(servers),
        *fulfilment(month, requests, until=now, target_hours=targets.fulfilment_hours),
        *migration(month, waves),
        *dr(_dr_state(posture, drills, month, now, posture_at),
            tried="the month's end" if now >= month.end and posture_at is not None
            else "now"),
        *capacity(_capacity(engine, sites, month, now, cache),
                  headroom_pct=targets.headroom_pct, days_to_full=targets.days_to_full),
        *alerts(month, incidents, until=now),
        *prometheus_alerts(month, fired(episodes, month.start, end), until=now,
                           receiving_since=told_since),
    ]
    judged = [f.met for f in figures if f.met is not None]
    return {"month": str(month), "at": now.isoformat(), "targets": targets.to_dict(),
            "figures": [f.to_dict() for f in figures],
            "met": sum(1 for m in judged if m), "missed": sum(1 for m in judged if not m)}
