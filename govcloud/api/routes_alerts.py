"""The alert history's receivers (``/alerts``, docs/reports.md "Alert history"): Alertmanager's
webhook (``POST /alerts/alertmanager``) and Prometheus posting its alerts itself as to an
Alertmanager (``POST /alerts/prometheus/api/v2/alerts``: Prometheus' ``alertmanagers`` entry
with ``path_prefix: /api/v1/alerts/prometheus``). Both need a principal's bearer token with
``alert.record`` (the service decides it before reading the alerts); a bad alert refuses the
whole post (422 naming it) and nothing of it is kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter

from govcloud.api.deps import CurrentPrincipal, PlaneDep
from govcloud.api.models import answers
from govcloud.api.models.alert_bodies import AlertmanagerWebhook, PrometheusAlerts
from govcloud.api.models.alerts import AlertsRecorded
from govcloud.domain.alert_history import Episode, prometheus_episode, webhook_episode
from govcloud.services import alert_history as svc

router = APIRouter(tags=["alerts"])


@router.post("/alerts/alertmanager", **answers(AlertsRecorded),
             summary="Alertmanager's webhook (version 4): record its alerts' episodes for the "
                     "scorecard (alert.record)")
def alertmanager(body: AlertmanagerWebhook, plane: PlaneDep,
                 principal: CurrentPrincipal) -> dict[str, Any]:
    def parse(now: dt.datetime) -> list[Episode]:
        return [webhook_episode(status=a.status, labels=a.labels, annotations=a.annotations,
                                starts=a.startsAt, ends=a.endsAt, received=now, index=i)
                for i, a in enumerate(body.alerts)]

    return svc.record(plane.engine, principal, parse, clock=plane.clock)


@router.post("/alerts/prometheus/api/v2/alerts", **answers(AlertsRecorded),
             summary="Prometheus' alerts, posted as to an Alertmanager (API v2): record their "
                     "episodes for the scorecard (alert.record)")
def prometheus(body: PrometheusAlerts, plane: PlaneDep,
               principal: CurrentPrincipal) -> dict[str, Any]:
    def parse(now: dt.datetime) -> list[Episode]:
        return [prometheus_episode(labels=a.labels, annotations=a.annotations,
                                   starts=a.startsAt, ends=a.endsAt, received=now, index=i)
                for i, a in enumerate(body)]

    return svc.record(plane.engine, principal, parse, clock=plane.clock)
