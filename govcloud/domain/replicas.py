"""Several ``govcloud serve`` replicas on one PostgreSQL database: the rules of their worker
leases, pure (docs/high-availability.md).

Every replica serves the API; each background worker (sync, probe, provision, protection, ...)
runs in exactly one replica, the one holding its **lease**: a row naming the holder and when
the lease expires, by the database's clock. The holder renews its leases every ``renew_s``
for ``ttl_s`` more; a replica takes a lease that has expired. So:

- a replica that dies (kill -9, its host lost) is replaced within ``ttl_s + renew_s``: its
  lease expires at most ``ttl_s`` after its last renewal, and the others look at least every
  ``renew_s`` (``LeaseTiming.takeover_bound_s``);
- a holder that cannot reach the database stops its workers ``ttl_s - renew_s`` after its last
  good renewal (``fence_after_s``), before the lease can expire and be taken: two replicas
  never run one worker at once, as long as stopping takes less than ``renew_s``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from govcloud.errors import InvalidInput

MAX_REPLICA_ID = 80
MAX_WORKER_NAME = 64
_WORKER = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_HOST_CHARS = re.compile(r"[^A-Za-z0-9.-]")

SINGLE_PROCESS = "single process"


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    """A lease's time to live and how often its holder renews it."""

    ttl_s: float = 15.0
    renew_s: float = 5.0

    def __post_init__(self) -> None:
        if not (self.renew_s > 0 and self.ttl_s >= 2 * self.renew_s):
            raise InvalidInput(
                f"lease_ttl_s ({self.ttl_s:g}) must be at least twice lease_renew_s "
                f"({self.renew_s:g}), which must be positive",
                hint="e.g. lease_ttl_s 15 and lease_renew_s 5 (docs/high-availability.md)")

    @property
    def takeover_bound_s(self) -> float:
        """At most this long after a holder dies, another replica runs its workers."""
        return self.ttl_s + self.renew_s

    @property
    def fence_after_s(self) -> float:
        """A holder that could not renew for this long stops its workers (its lease may
        expire ``renew_s`` later)."""
        return self.ttl_s - self.renew_s

    def as_dict(self) -> dict[str, float]:
        return {"ttl_s": self.ttl_s, "renew_s": self.renew_s,
                "takeover_bound_s": self.takeover_bound_s, "fence_after_s": self.fence_after_s}


def check_worker_name(name: str) -> str:
    """A worker's name, as its lease row keys it: lower-case letters, digits and '-'."""
    if not _WORKER.fullmatch(name):
        raise InvalidInput(f"invalid worker name {name!r}",
                           hint="lower-case letters, digits and '-', at most 64 characters")
    return name


def replica_id(host: str, pid: int, nonce: str) -> str:
    """A replica's id: its host (letters, digits, '.', '-' kept), pid and a random nonce, so
    a restarted process on the same host and pid is another replica."""
    clean = _HOST_CHARS.sub("-", host)[:48].strip("-.") or "host"
    return f"{clean}-{pid}-{nonce}"[:MAX_REPLICA_ID]


@dataclass(frozen=True, slots=True)
class Replica:
    id: str
    host: str
    pid: int
    url: str | None
    version: str
    started_at: dt.datetime
    last_seen: dt.datetime
    stopped_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    worker: str
    holder: str
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_at: dt.datetime
    takeovers: int = 0

    def held(self, now: dt.datetime) -> bool:
        return self.expires_at > now


def replica_state(replica: Replica, now: dt.datetime, timing: LeaseTiming) -> str:
    """``up`` (heard of within the lease's time to live), ``stopped`` (it said so) or
    ``lost`` (silent for longer: dead, or cut off from the database)."""
    if replica.stopped_at is not None:
        return "stopped"
    silent = (now - replica.last_seen).total_seconds()
    return "up" if silent <= timing.ttl_s else "lost"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def workers_view(workers: Sequence[str], leases: Iterable[Lease], now: dt.datetime,
                 *, enabled: Iterable[str]) -> list[dict[str, Any]]:
    """Each worker as ``status`` shows it: its holder while its lease holds; ``free`` when
    its lease expired (or none was ever taken) and ``off`` when the settings turn it off."""
    by_name = {lease.worker: lease for lease in leases}
    on = set(enabled)
    out = []
    for name in sorted(set(workers) | set(by_name)):
        lease = by_name.get(name)
        held = lease is not None and lease.held(now)
        state = "held" if held else ("off" if name not in on else "free")
        out.append({"name": name, "state": state,
                    "holder": lease.holder if held and lease is not None else None,
                    "last_holder": lease.holder if lease is not None else None,
                    "acquired_at": _iso(lease.acquired_at) if lease else None,
                    "expires_at": _iso(lease.expires_at) if lease else None,
                    "takeovers": lease.takeovers if lease else 0})
    return out


def replicas_view(replicas: Iterable[Replica], leases: Iterable[Lease], now: dt.datetime,
                  timing: LeaseTiming) -> list[dict[str, Any]]:
    """Each replica with its state and the workers whose lease it holds now."""
    held: dict[str, list[str]] = {}
    for lease in leases:
        if lease.held(now):
            held.setdefault(lease.holder, []).append(lease.worker)
    out = []
    for r in sorted(replicas, key=lambda r: (r.started_at, r.id)):
        out.append({"id": r.id, "host": r.host, "pid": r.pid, "url": r.url,
                    "version": r.version, "state": replica_state(r, now, timing),
                    "started_at": _iso(r.started_at), "last_seen": _iso(r.last_seen),
                    "workers": sorted(held.get(r.id, []))})
    return out


def single_process_view(replica: Replica, workers: Sequence[str],
                        enabled: Iterable[str]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """SQLite: one process runs every worker it turned on; no leases."""
    on = set(enabled)
    rows = [{"name": name, "state": "held" if name in on else "off",
             "holder": replica.id if name in on else None,
             "last_holder": replica.id if name in on else None,
             "acquired_at": _iso(replica.started_at) if name in on else None,
             "expires_at": None, "takeovers": 0} for name in sorted(workers)]
    me = {"id": replica.id, "host": replica.host, "pid": replica.pid, "url": replica.url,
          "version": replica.version, "state": "up", "started_at": _iso(replica.started_at),
          "last_seen": _iso(replica.last_seen), "workers": sorted(on & set(workers))}
    return [me], rows
