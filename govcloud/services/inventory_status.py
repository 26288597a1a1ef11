"""``GET /status``: one screenful — per site its role, health, freshness and totals (servers
within the principal's scope; capacity only for principals who may see it), and alerts.

Every open console asks for it every 10 s. What it counts from the stored inventory — the
live servers by site and status within a scope, each site's volumes — changes only when
server rows are stamped with a change number (``store.server_changes``: every writer of
servers does) or a site is synced (its ``site_sync`` row, written in the sync's
transaction, the only writer of volumes). So it is held in the plane's ``SnapshotCache``
(``held``) under that key (``inventory_key``) and the scope: a status with nothing changed
reads a few small rows, not every server (at province scale 70 ms of CPU became ~2 ms;
bench/console_refresh_bench.py). While a committed server row waits for its number the
key is None and nothing is kept, so no status is older than the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from govcloud.domain.rbac import GLOBAL, Action, Principal, can
from govcloud.domain.sites import Site, site_target
from govcloud.services.inventory import (
    FULL_ALERT,
    SnapshotCache,
    _figure,
    _iso,
    scope_of,
    site_hosts,
)
from govcloud.store import inventory as store
from govcloud.store import server_changes as changes

Alerts = list[dict[str, str]]


def inventory_key(conn: Connection, states: Mapping[str, store.SyncState]
                  ) -> Hashable | None:
    """What the stored servers and volumes are as of: the servers' change head and every
    site's sync times (``states``, read just before); None while a committed server row is
    unstamped (the head does not tell of it yet)."""
    if changes.unstamped(conn):
        return None
    head = changes.head(conn)
    return (head.epoch, head.seq, head.horizon,
            tuple(sorted((n, st.last_attempt, st.last_success) for n, st in states.items())))


def _freshness(s: Site, state: store.SyncState | None, *, now: dt.datetime,
               stale_after_s: float, alerts: Alerts) -> dict[str, Any]:
    if state is None or state.last_success is None:
        health = "never-synced" if state is None else "stale"
        age = None
    else:
        age = (now - state.last_success).total_seconds()
        health = "stale" if state.stale or age > stale_after_s else "ok"
    if health != "ok":
        why = state.error if state and state.error else "no successful sync yet" \
            if age is None else f"last successful sync {int(age)} s ago"
        alerts.append({"site": s.name, "severity": "warning",
                       "message": f"{s.name} data is {health}: {why}"})
    return {"health": health, "stale": health != "ok",
            "data_as_of": _iso(state.last_success if state else None),
            "age_s": None if age is None else round(age, 1),
            "last_attempt": _iso(state.last_attempt if state else None),
            "last_full": _iso(state.last_full if state else None),
            "duration_s": None if state is None or state.duration_s is None
            else round(state.duration_s, 3),
            "error": state.error if state else None}


def _capacity(conn: Connection, cache: SnapshotCache, key: Hashable | None, s: Site,
              state: store.SyncState | None, alerts: Alerts) -> dict[str, Any]:
    cap = site_hosts(conn, cache, s.name, state)[1]
    # every site's totals in one grouped query, held as one value
    volumes, volume_gb = cache.held(key, "volume_totals",
                                    lambda: store.volume_totals(conn)).get(s.name, (0, 0))
    for label, fig in (("vCPU", cap.vcpu), ("RAM", cap.ram_mb)):
        if fig.allocated_fraction > FULL_ALERT:
            alerts.append({"site": s.name, "severity": "warning",
                           "message": f"{s.name} {label} allocated "
                                      f"{fig.allocated_fraction:.0%}"})
    if cap.hosts_up < cap.hosts:
        alerts.append({"site": s.name, "severity": "info",
                       "message": f"{s.name}: {cap.hosts - cap.hosts_up} of "
                                  f"{cap.hosts} hypervisors down"})
    return {"hypervisors": {"total": cap.hosts, "up": cap.hosts_up,
                            "schedulable": cap.hosts_schedulable},
            "vcpus": _figure(cap.vcpu), "ram_mb": _figure(cap.ram_mb),
            "disk_gb": _figure(cap.disk_gb), "volumes": {"count": volumes, "gb": volume_gb}}


def status(engine: Engine, *, principal: Principal, sites: Sequence[Site],
           catalogue: Mapping[str, str | None] | None = None,
           now: dt.datetime | None = None, stale_after_s: float = 300.0,
           cache: SnapshotCache | None = None) -> dict[str, Any]:
    """One screenful: per site its role, health, freshness and totals (servers within the
    principal's scope; capacity only for principals who see the whole cloud, or a
    city-operator's own sites), and alerts. ``cache``: the plane's ``SnapshotCache``, which
    holds the counts while the store is unchanged."""
    now = now or dt.datetime.now(dt.UTC)
    cache = cache or SnapshotCache()
    global_view = bool(can(principal, Action.VIEW_CAPACITY, GLOBAL))
    alerts: Alerts = []
    out_sites: list[dict[str, Any]] = []
    with engine.connect() as conn:
        scope = scope_of(conn, principal, Action.VIEW_SERVERS, catalogue or {})
        states = store.sync_states(conn)
        key = inventory_key(conn, states)  # read before what it keeps
        counts = cache.held(key, ("server_counts", scope.departments, scope.include_unmapped),
                            lambda: store.server_counts(
                                conn, departments=scope.departments,
                                include_unmapped=scope.include_unmapped))
        for s in sites:
            state = states.get(s.name)
            by_status = dict(counts.get(s.name, {}))
            entry: dict[str, Any] = {
                "site": s.name, "role": s.role.value,
                **_freshness(s, state, now=now, stale_after_s=stale_after_s, alerts=alerts),
                "servers": {"total": sum(by_status.values()), "by_status": by_status}}
            if global_view or can(principal, Action.VIEW_CAPACITY, site_target(s)):
                entry.update(_capacity(conn, cache, key, s, state, alerts))
            out_sites.append(entry)
    totals: dict[str, Any] = {"servers": sum(e["servers"]["total"] for e in out_sites)}
    if global_view:
        totals["hypervisors"] = sum(e["hypervisors"]["total"] for e in out_sites)
        totals["vcpus"] = {k: sum(e["vcpus"][k] for e in out_sites)
                           for k in ("capacity", "allocated", "free")}
    return {"sites": out_sites, "totals": totals, "alerts": alerts,
            "scope": principal.scope, "at": now.isoformat()}
