"""The bodies the operator's monitoring posts to ``/alerts`` (docs/reports.md, "Alert
history"): Alertmanager's webhook (``webhook_config``, JSON version 4) and Prometheus' alerts
(Alertmanager's API v2, ``POST /api/v2/alerts``: a list of alerts). Keys govcloud does not use
(``receiver``, ``groupLabels``, ``externalURL``, ...) are ignored; what it keeps is bounded
here (a longer value is a 422) and checked by ``govcloud.domain.alert_history`` (label names,
control characters: a 422 naming the alert)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from govcloud.domain.alert_history import MAX_ALERTS, MAX_LABELS, MAX_NAME, MAX_VALUE

LabelName = Annotated[str, Field(max_length=MAX_NAME)]
Labels = Annotated[dict[LabelName, Annotated[str, Field(max_length=MAX_VALUE)]],
                   Field(max_length=MAX_LABELS, description="the alert's labels")]
Annotations = Annotated[dict[LabelName, Annotated[str, Field(max_length=16384)]],
                        Field(max_length=MAX_LABELS,
                              description="the alert's annotations (only summary is kept)")]


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    labels: Labels
    annotations: Annotations = Field(default_factory=dict)
    endsAt: AwareDatetime | None = None
    generatorURL: Annotated[str, Field(max_length=4096)] | None = None


class WebhookAlert(_Alert):
    status: Literal["firing", "resolved"]
    startsAt: AwareDatetime
    fingerprint: Annotated[str, Field(max_length=64, pattern=r"^[0-9a-f]+$")] | None = None


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook notification, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    alerts: Annotated[list[WebhookAlert], Field(max_length=MAX_ALERTS)]


class PrometheusAlert(_Alert):
    """One alert as Prometheus posts it to an Alertmanager (API v2 ``postableAlert``)."""

    startsAt: AwareDatetime | None = None


PrometheusAlerts = Annotated[list[PrometheusAlert], Field(max_length=MAX_ALERTS)]
