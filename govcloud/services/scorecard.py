"""The operator scorecard for a month (issue 20, ``govcloud.domain.scorecard``), from what
govcloud holds: the hours each site was read (metering), the provisioning requests' times,
the DR posture and the drills held, and the capacity and its forecast (as of now).

RBAC: ``statement.view`` on the whole cloud — the bureau, its auditors, the operator and CI;
a department-viewer or a city-operator assesses no operator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.metering import Month
from govcloud.domain.protection import DrillState
from govcloud.domain.rbac import GLOBAL, Action, Principal, require
from govcloud.domain.recovery import DrillResult
from govcloud.domain.scorecard import (
    DrState,
    SiteCapacity,
    Targets,
    availability,
    capacity,
    dr,
    fulfilment,
)
from govcloud.domain.sites import Site
from govcloud.errors import GovCloudError
from govcloud.services import inventory
from govcloud.services.dr_posture import Posture
from govcloud.store import metering_repo
from govcloud.store import statements_repo as repo

Clock = Callable[[], dt.datetime]


def _dr_state(posture: Callable[[], Posture] | None, drills: list[str]) -> DrState | None:
    if posture is None:
        return None
    try:
        held = posture()
    except GovCloudError:
        return None
    overdue = sum(1 for s in held.systems if s.verdict.drill.state is DrillState.OVERDUE)
    totals = held.province
    return DrState(totals.systems, totals.compliant, totals.at_risk, totals.non_compliant,
                   overdue, drills.count(DrillResult.PASSED.value),
                   drills.count(DrillResult.FAILED.value))


def _capacity(engine: Engine, sites: Sequence[Site], now: dt.datetime,
              cache: inventory.SnapshotCache | None) -> list[SiteCapacity]:
    out = []
    for s in inventory.capacity(engine, sites=sites, now=now, cache=cache)["sites"]:
        forecast = s["forecast_vcpus"]
        out.append(SiteCapacity(s["site"], int(s["vcpus"]["capacity"]),
                                int(s["vcpus"]["headroom"]), forecast["days"],
                                str(forecast["status"])))
    return out


def scorecard(engine: Engine, principal: Principal, month: Month, *, sites: Sequence[Site],
              targets: Targets, clock: Clock, posture: Callable[[], Posture] | None = None,
              cache: inventory.SnapshotCache | None = None) -> dict[str, Any]:
    """The month's scorecard; DR and capacity are as of now (the store keeps no history of
    them)."""
    require(principal, Action.STATEMENT_VIEW, GLOBAL)
    now = clock()
    with engine.connect() as conn:
        hours = metering_repo.site_hours(conn, month.start, month.end)
        requests = repo.request_times(conn, month)
        drills = repo.drills(conn, month)
    figures = [
        *availability(month, [s.name for s in sites], hours, until=now,
                      target=targets.availability_pct),
        *fulfilment(month, requests, until=now, target_hours=targets.fulfilment_hours),
        *dr(_dr_state(posture, drills)),
        *capacity(_capacity(engine, sites, now, cache), headroom_pct=targets.headroom_pct,
                  days_to_full=targets.days_to_full),
    ]
    judged = [f.met for f in figures if f.met is not None]
    return {"month": str(month), "at": now.isoformat(), "targets": targets.to_dict(),
            "figures": [f.to_dict() for f in figures],
            "met": sum(1 for m in judged if m), "missed": sum(1 for m in judged if not m)}
