"""Probe results: the newest probe of each site's service, overwritten in place."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection, select

from govcloud.domain.health import ProbeResult
from govcloud.store.inventory import aware, table, upsert
from govcloud.store.tables_health import ProbeResultRow  # noqa: F401  (registers the table)


def record_probes(conn: Connection, results: Iterable[ProbeResult]) -> list[ProbeResult]:
    """Store ``results``; keeps each pair's last success and counts consecutive failures.
    Returns the results as stored (with ``last_ok_at`` and ``failures`` filled in)."""
    results = list(results)
    tbl = table("probe_result")
    before = {(r.site, r.service): r for r in conn.execute(select(tbl))}
    stored: list[ProbeResult] = []
    rows = []
    for p in results:
        old = before.get((p.site, p.service))
        last_ok = p.checked_at if p.up else (aware(old.last_ok_at) if old is not None else None)
        failures = 0 if p.up else (int(old.failures) if old is not None else 0) + 1
        rows.append({"site": p.site, "service": p.service, "up": p.up,
                     "latency_s": p.latency_s, "status_code": p.status_code,
                     "error": p.error, "checked_at": p.checked_at, "last_ok_at": last_ok,
                     "failures": failures})
        stored.append(ProbeResult(p.site, p.service, p.up, p.latency_s, p.checked_at,
                                  p.status_code, p.error, last_ok, failures))
    upsert(conn, tbl, rows, ("site", "service"))
    return stored


def probes(conn: Connection) -> list[ProbeResult]:
    tbl = table("probe_result")
    return [ProbeResult(site=r.site, service=r.service, up=bool(r.up),
                        latency_s=float(r.latency_s),
                        checked_at=aware(r.checked_at) or dt.datetime.now(dt.UTC),
                        status_code=r.status_code, error=r.error,
                        last_ok_at=aware(r.last_ok_at), failures=int(r.failures))
            for r in conn.execute(select(tbl).order_by(tbl.c.site, tbl.c.service))]
