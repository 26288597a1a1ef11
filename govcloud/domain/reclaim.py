"""Reclaim: what is paid for but unused, per department — candidates for a retirement request
(pure; docs/lifecycle.md, "Reclaim").

* servers shut off (``SHUTOFF``) for more than N days — they still hold their host's
  capacity (Placement keeps a stopped server's allocation) and the department's quota;
* volumes attached to nothing (``available``) for more than N days;
* systems every production member of which is such a server: the candidates to retire.

"Since when" is the inventory's: a server's ``status_since`` (kept by the sync while its
status stays; Nova's last update of it when the status changed) and a volume's
``detached_since``. A server or volume whose time is not known yet (not synced since the
times were recorded) is counted as unknown, never as idle. A server of a system being
retired is left out (it is shut off on purpose). There is no traffic metric in govcloud's
inventory or metering, so systems "with no traffic" are not reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IDLE_SERVER = "SHUTOFF"
LOOSE_VOLUME = "available"
NO_TRAFFIC = ("not reported: govcloud has no traffic metric (its inventory and metering "
              "read compute, volumes and quotas, not network traffic)")


@dataclass(frozen=True, slots=True)
class IdleServer:
    site: str
    id: str
    name: str
    department: str
    status: str
    since: dt.datetime | None
    flavor: str | None = None
    vcpus: int = 0
    ram_mb: int = 0
    system: str | None = None  # the provisioned system it is a production member of


@dataclass(frozen=True, slots=True)
class LooseVolume:
    site: str
    id: str
    name: str
    department: str
    size_gb: int
    status: str
    since: dt.datetime | None


def _days(now: dt.datetime, since: dt.datetime) -> float:
    return round((now - since).total_seconds() / 86400, 2)


@dataclass
class DepartmentReclaim:
    """One department's candidates."""

    department: str
    servers: list[tuple[IdleServer, float]] = field(default_factory=list)
    volumes: list[tuple[LooseVolume, float]] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    unknown: int = 0  # idle-looking servers and volumes whose "since" is not known yet

    def to_dict(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "servers": [{"site": s.site, "id": s.id, "name": s.name, "status": s.status,
                         "since": s.since.isoformat() if s.since else None, "days": days,
                         "flavor": s.flavor, "vcpus": s.vcpus, "ram_mb": s.ram_mb,
                         "system": s.system} for s, days in self.servers],
            "volumes": [{"site": v.site, "id": v.id, "name": v.name, "size_gb": v.size_gb,
                         "status": v.status, "since": v.since.isoformat() if v.since else None,
                         "days": days} for v, days in self.volumes],
            "systems": self.systems,
            "vcpus": sum(s.vcpus for s, _ in self.servers),
            "ram_mb": sum(s.ram_mb for s, _ in self.servers),
            "volume_gb": sum(v.size_gb for v, _ in self.volumes),
            "unknown": self.unknown}


def candidates(servers: Iterable[IdleServer], volumes: Iterable[LooseVolume], *,
               now: dt.datetime, days: float,
               production: Mapping[tuple[str, str], Sequence[str]]) -> list[DepartmentReclaim]:
    """The departments with something to reclaim, by code. ``production``: each system's
    (department, system) production member server ids — a system is a candidate when every
    one of them is an idle server."""
    limit = dt.timedelta(days=days)
    out: dict[str, DepartmentReclaim] = {}

    def of(code: str) -> DepartmentReclaim:
        return out.setdefault(code, DepartmentReclaim(code))

    idle: set[str] = set()
    for s in servers:
        if s.status != IDLE_SERVER:
            continue
        if s.since is None:
            of(s.department).unknown += 1
        elif now - s.since >= limit:
            of(s.department).servers.append((s, _days(now, s.since)))
            idle.add(s.id)
    for v in volumes:
        if v.status != LOOSE_VOLUME:
            continue
        if v.since is None:
            of(v.department).unknown += 1
        elif now - v.since >= limit:
            of(v.department).volumes.append((v, _days(now, v.since)))
    for (department, system), ids in sorted(production.items()):
        if ids and all(i in idle for i in ids):
            of(department).systems.append(system)
    for entry in out.values():
        entry.servers.sort(key=lambda x: (-x[1], x[0].site, x[0].name))
        entry.volumes.sort(key=lambda x: (-x[1], x[0].site, x[0].name))
    return [out[k] for k in sorted(out)]
