"""``/health/probes``."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Number, Time


class ServiceProbe(ApiModel):
    """The newest probe of one service API of one site (a pair never probed has only
    ``site``, ``service``, ``up`` (null) and ``state``)."""

    site: str
    service: str
    up: bool | None
    latency_s: Number | None = None
    checked_at: Time | None = None
    status_code: int | None = None
    error: str | None = None
    reason: str | None = None
    last_ok_at: Time | None = None
    failures: int | None = None
    slow: bool | None = None
    age_s: Number | None = None
    state: str  # up, slow, old, down or never-probed


class SiteProbes(ApiModel):
    site: str
    state: str
    services: list[ServiceProbe]


class Probes(ApiModel):
    sites: list[SiteProbes]
    at: Time


class ProbedNow(Probes):
    by: str
