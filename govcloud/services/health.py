"""Health probes of the sites' APIs: run on a schedule by the probe worker (never at scrape
time), stored per site × service, read back by ``GET /health``, ``govcloud status`` and the
metrics.

The prober keeps connections of its own (not the sync's), so a probe's short timeout never
changes how the sync talks to a site, and a long sync never delays a probe.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.probe import probe_site
from govcloud.domain.health import SERVICES, ProbeResult
from govcloud.domain.sites import Site
from govcloud.errors import GovCloudError
from govcloud.store import health as store
from govcloud.store.engine import write_begin

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0
Connector = Callable[[Site], Any]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Prober:
    """Probes every site's services in parallel and records the results.

    ``connect`` makes an openstacksdk connection for a site (made once and kept; a site whose
    connection cannot be made has every service down with the reason)."""

    def __init__(self, *, engine: Engine, sites: Sequence[Site], connect: Connector,
                 timeout_s: float = DEFAULT_TIMEOUT_S,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.engine = engine
        self.sites = tuple(sites)
        self._connect = connect
        self.timeout_s = timeout_s
        self.clock = clock
        self._conns: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _connection(self, site: Site) -> Any:
        with self._lock:
            conn = self._conns.get(site.name)
        if conn is None:
            conn = self._connect(site)
            with self._lock:
                self._conns[site.name] = conn
        return conn

    def _probe(self, site: Site) -> list[ProbeResult]:
        try:
            conn = self._connection(site)
        except GovCloudError as exc:
            at = self.clock()
            return [ProbeResult(site.name, s, False, 0.0, at, error=exc.message)
                    for s in SERVICES]
        return probe_site(conn, site.name, timeout_s=self.timeout_s, clock=self.clock)

    def run(self) -> list[ProbeResult]:
        """Probe every site once; returns the results as stored."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.sites)),
                                thread_name_prefix="probe") as pool:
            found = [r for batch in pool.map(self._probe, self.sites) for r in batch]
        with write_begin(self.engine) as conn:  # reads the last results, then writes
            stored = store.record_probes(conn, found)
        down = [f"{r.site}/{r.service}" for r in stored if not r.up]
        if down:
            log.warning("probe: down: %s", ", ".join(down))
        return stored

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            close = getattr(conn, "close", None)
            if close is not None:
                close()


def health(engine: Engine, *, sites: Sequence[Site], now: dt.datetime | None = None,
           stale_after_s: float = 300.0) -> dict[str, Any]:
    """The newest probe of every site × service (``never`` probed pairs are listed too)."""
    now = now or _utcnow()
    with engine.connect() as conn:
        found = {(p.site, p.service): p for p in store.probes(conn)}
    out_sites: list[dict[str, Any]] = []
    for s in sites:
        services: list[dict[str, Any]] = []
        for name in SERVICES:
            p = found.get((s.name, name))
            if p is None:
                services.append({"site": s.name, "service": name, "up": None,
                                 "state": "never-probed"})
                continue
            entry = p.to_dict()
            age = (now - p.checked_at).total_seconds()
            entry["age_s"] = round(age, 1)
            entry["state"] = ("down" if not p.up else "slow" if p.slow else
                              "old" if age > stale_after_s else "up")
            services.append(entry)
        states = {e["state"] for e in services}
        overall = "down" if "down" in states else "unknown" if states & {"never-probed", "old"} \
            else "slow" if "slow" in states else "up"
        out_sites.append({"site": s.name, "state": overall, "services": services})
    return {"sites": out_sites, "at": now.isoformat()}


def annotate_status(status: dict[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """Add the probes to a ``GET /status`` answer: each site's one-word API state
    (``probes``) and an alert per service down or slow."""
    by_site = {s["site"]: s for s in report["sites"]}
    for entry in status["sites"]:
        probed = by_site.get(entry["site"])
        if probed is None:
            continue
        entry["probes"] = probed["state"]
        for p in probed["services"]:
            if p["state"] == "down":
                status["alerts"].append({
                    "site": entry["site"], "severity": "critical",
                    "message": f"{entry['site']} {p['service']} API down "
                               f"({p['failures']} probes): {p['error']}"})
            elif p["state"] == "slow":
                status["alerts"].append({
                    "site": entry["site"], "severity": "warning",
                    "message": f"{entry['site']} {p['service']} API slow "
                               f"({p['latency_s']:.2f} s)"})
    return status
