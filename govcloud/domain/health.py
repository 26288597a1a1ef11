"""Region API health: what one probe of one site's service found, and the fixed sets of
services probed and of reasons a sync or a probe fails (small and fixed, so they can be
metric labels)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

# The services probed in every site, in display order (label ``service`` of the metrics).
SERVICES = ("identity", "compute", "placement", "image", "network", "volume")

# Why a sync or a probe failed, from its error message (label ``reason`` of the metrics).
REASONS = ("timeout", "unreachable", "auth", "api_error", "database", "other")

SLOW_PROBE_S = 2.0  # a probe slower than this makes the service "slow" in the status


def failure_reason(error: str | None) -> str | None:
    """The reason (one of :data:`REASONS`) an error message stands for; None without one."""
    if not error:
        return None
    text = error.lower()
    rules = (("timeout", ("timed out", "timeout")),
             ("unreachable", ("unable to establish", "connection", "refused", "unreachable",
                              "not supported", "no cloud connection", "endpoint")),
             ("auth", ("401", "unauthori", "authenticat", "credential", "forbidden", "403")),
             ("database", ("database", "sqlite", "psycopg", "operationalerror",
                           "integrityerror")),
             ("api_error", ("http ", " 5", "status", "not json", "unexpected", "api")))
    for reason, words in rules:
        if any(w in text for w in words):
            return reason
    return "other"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe of one service of one site: up (answered 2xx), latency, what went wrong."""

    site: str
    service: str
    up: bool
    latency_s: float
    checked_at: dt.datetime
    status_code: int | None = None
    error: str | None = None
    last_ok_at: dt.datetime | None = None
    failures: int = 0  # consecutive failed probes, 0 when up

    @property
    def reason(self) -> str | None:
        return None if self.up else failure_reason(self.error) or "api_error"

    @property
    def slow(self) -> bool:
        return self.up and self.latency_s > SLOW_PROBE_S

    def to_dict(self) -> dict[str, Any]:
        def iso(v: dt.datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {"site": self.site, "service": self.service, "up": self.up,
                "latency_s": round(self.latency_s, 4), "checked_at": iso(self.checked_at),
                "status_code": self.status_code, "error": self.error, "reason": self.reason,
                "last_ok_at": iso(self.last_ok_at), "failures": self.failures,
                "slow": self.slow}
