"""What the console shows beyond the inventory endpoints: hypervisors with their per-host
figures, the servers on one host, one server in full (the stored row and, when the site
answers, its addresses, metadata and tags read live), and quota usage per department.

RBAC: hosts are whole-cloud facts (``capacity.view`` on the whole cloud, checked by the
route); a server and the usage are narrowed to the departments the principal may see.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from govcloud.cloud.inventory import SiteReader
from govcloud.domain.capacity import site_capacity
from govcloud.domain.rbac import Action, Principal
from govcloud.errors import GovCloudError, NotFound
from govcloud.services.inventory import (
    SnapshotCache,
    _figure,
    _iso,
    scope_of,
)
from govcloud.services.server_listing import server_json
from govcloud.store import fleet, hosts_repo
from govcloud.store import inventory as store

log = logging.getLogger(__name__)

LiveReader = Callable[[str, str], Mapping[str, Any]]  # (site, server id) → live fields


def hypervisors(engine: Engine, *, sites: Sequence[str],
                site: str | None = None, hosts: bool = True,
                cache: SnapshotCache | None = None) -> dict[str, Any]:
    """Every stored hypervisor (of ``site`` only, when given) with vCPU/RAM/disk figures
    (none when ``hosts`` is false) and whether it is in maintenance (docs/hosts.md: its
    figures then count in no site total), and per site how many compute services are
    down."""
    if site is not None and site not in sites:
        raise NotFound(f"no site named {site!r}", hint=f"configured sites: {', '.join(sites)}")
    chosen = [s for s in sites if site is None or s == site]
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        states = store.sync_states(conn)
        down = fleet.services_down(conn)
        marks = hosts_repo.maintenance_names(conn)
        for name in chosen if hosts else ():
            for h in (cache or SnapshotCache()).every_host(conn, name, states.get(name)):
                cap = site_capacity(name, [h])
                out.append({"site": name, "id": h.id, "hostname": h.hostname,
                            "state": h.state.value, "status": h.status.value,
                            "availability_zone": h.availability_zone,
                            "disabled_reason": h.disabled_reason,
                            "running_servers": h.running_servers,
                            "vcpus": _figure(cap.vcpu), "ram_mb": _figure(cap.ram_mb),
                            "disk_gb": _figure(cap.disk_gb),
                            "maintenance": h.hostname in marks.get(name, frozenset())})
    return {"hypervisors": out,
            "services_down": {n: down.get(n, 0) for n in chosen},
            "data_as_of": {n: _iso(states[n].last_success) if n in states else None
                           for n in chosen}}


def host_servers(engine: Engine, *, sites: Sequence[str], site: str,
                 host: str) -> dict[str, Any]:
    if site not in sites:
        raise NotFound(f"no site named {site!r}", hint=f"configured sites: {', '.join(sites)}")
    with engine.connect() as conn:
        rows = fleet.servers_on_host(conn, site=site, host=host)
    return {"site": site, "host": host, "servers": [server_json(r) for r in rows]}


def live_reader(connections: Callable[[], Mapping[str, Any]]) -> LiveReader:
    """A :data:`LiveReader` over the sites' cloud connections (``connections()`` gives
    ``{site: Connection}``): a server's addresses, metadata, tags and status, read now."""

    def live(site: str, server_id: str) -> Mapping[str, Any]:
        s = SiteReader(connections()[site], site=site).server(server_id)
        return {"addresses": {k: list(v) for k, v in s.addresses.items()},
                "metadata": dict(s.metadata), "tags": list(s.tags), "status": s.status}

    return live


def server_detail(engine: Engine, *, principal: Principal, sites: Sequence[str],
                  catalogue: Mapping[str, str | None], site: str, server_id: str,
                  live: LiveReader | None = None) -> dict[str, Any]:
    """One server: the stored row, plus addresses, metadata and tags read from its site
    (``live``); when the site does not answer, ``live_error`` says why and the rest stays."""
    unknown = NotFound(f"no server {server_id!r} in {site}",
                       hint="`govcloud servers list --site SITE` lists the servers you may see")
    if site not in sites:
        raise unknown
    with engine.connect() as conn:
        row = fleet.server(conn, site=site, server_id=server_id)
        scope = scope_of(conn, principal, Action.VIEW_SERVERS, catalogue)
    if row is None:
        raise unknown
    dept = row["department"]
    if scope.departments is not None and (dept is None or dept not in scope.departments):
        raise unknown  # as for an unknown id: nothing about another department leaks
    out = server_json(row)
    out.update({"ephemeral_gb": row["ephemeral_gb"], "swap_mb": row["swap_mb"],
                "boot_from_volume": bool(row["boot_from_volume"]),
                "addresses": None, "metadata": None, "tags": None, "live_error": None})
    if live is not None:
        try:
            out.update(live(site, server_id))
        except GovCloudError as exc:
            out["live_error"] = exc.message
    return out


def usage(engine: Engine, *, principal: Principal, catalogue: Mapping[str, str | None],
          ) -> dict[str, Any]:
    """Per department and site: compute quotas with their use, live servers and the newest
    change, from the last sync; only departments the principal may see."""
    with engine.connect() as conn:
        scope = scope_of(conn, principal, Action.VIEW_DEPARTMENT, catalogue)
        quotas = fleet.quota_usage(conn, departments=scope.departments)
        activity = fleet.department_activity(conn, departments=scope.departments)
    out: dict[str, dict[str, dict[str, Any]]] = {}

    def entry(dept: str, site: str) -> dict[str, Any]:
        return out.setdefault(dept, {}).setdefault(
            site, {"quotas": {}, "servers": 0, "last_change": None})

    for q in quotas:
        entry(q["department"], q["site"])["quotas"][q["resource"]] = {
            "limit": q["limit"], "in_use": q["in_use"]}
    for a in activity:
        e = entry(a["department"], a["site"])
        e["servers"] = int(a["servers"])
        last = a["last_change"]
        if isinstance(last, dt.datetime):
            e["last_change"] = _iso(store.aware(last))
    return {"departments": out}
