"""Region API probes: one cheap authenticated GET per service of a site, timed.

Each probe goes through the site's openstacksdk connection (so through Keystone's catalog and
token, as every other call does) with its own short timeout and no retries. A probe never
raises: a failure is a :class:`ProbeResult` with ``up`` False and the error.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from govcloud.cloud.errors import translate
from govcloud.domain.health import SERVICES, ProbeResult

# service → (openstacksdk proxy attribute, path relative to the endpoint): small answers that
# still need a valid token and a working service behind the endpoint.
PROBES: dict[str, tuple[str, str]] = {
    "identity": ("identity", "/regions"),
    "compute": ("compute", "/flavors?limit=1"),
    "placement": ("placement", "/resource_providers?name=govcloud-probe"),
    "image": ("image", "/images?limit=1"),
    "network": ("network", "/networks?limit=1"),
    "volume": ("block_storage", "/types"),
}
assert tuple(PROBES) == SERVICES


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def probe_service(conn: Any, site: str, service: str, *, timeout_s: float = 5.0,
                  clock: Callable[[], dt.datetime] = _now) -> ProbeResult:
    """Probe one service of ``site`` through ``conn`` (an openstacksdk Connection)."""
    attr, path = PROBES[service]
    at = clock()
    t0 = time.perf_counter()
    try:
        proxy = getattr(conn, attr)
        resp = proxy.get(path, raise_exc=False, timeout=timeout_s, connect_retries=0,
                         retriable_status_codes=[])
        latency = time.perf_counter() - t0
        status = int(resp.status_code)
        if 200 <= status < 300:
            return ProbeResult(site, service, True, latency, at, status_code=status)
        detail = " ".join((resp.text or "").split())[:200]
        return ProbeResult(site, service, False, latency, at, status_code=status,
                           error=f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
    except Exception as exc:  # noqa: BLE001  (a probe reports every failure, never raises)
        latency = time.perf_counter() - t0
        message = translate(exc, where=f"site {site} {service}").message
        return ProbeResult(site, service, False, latency, at, error=message)


def probe_site(conn: Any, site: str, *, timeout_s: float = 5.0,
               clock: Callable[[], dt.datetime] = _now) -> list[ProbeResult]:
    """Probe every service of ``site`` in turn (:data:`SERVICES` order)."""
    return [probe_service(conn, site, s, timeout_s=timeout_s, clock=clock) for s in SERVICES]
