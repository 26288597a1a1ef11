"""What the control plane keeps, and for how long: the retention policy, the cut-off times it
gives at a moment, and which capacity samples thinning keeps. Pure: the store deletes, the
service decides when (docs/operator-guide.md, "What stays bounded").

Kept whole, never compacted: the audit log (its hash chain is the record; it grows with the
state changes people and pipelines make, not with time, and is kept at least
``AUDIT_KEEP_DAYS``), the hourly usage rollups and closed statements (the billing record),
requests, drills, failovers, changes and their decisions (each one row, made by a person).
One row per thing, overwritten: probes (newest per site and service), sync freshness (one row
per site). Compacted here: progress events, delivered notifications, capacity samples, the
tombstones of deleted servers and the episodes of Prometheus' alerts that ended long ago.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Set
from dataclasses import dataclass

from govcloud.errors import InvalidInput

AUDIT_KEEP_DAYS = 183  # six months at least; the audit log is never compacted


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How many days each kind of history is kept (``govcloud.settings``: ``retention_*``).

    ``samples_days``: capacity samples are kept as taken (one per site per sync) this long,
    then thinned to the first of each site's hour until ``sample_hours_days``, then deleted.
    ``tombstone_days``: rows of deleted servers (their deletion, for metering backfill and for
    consoles catching up) are kept this long. ``alerts_days``: an alert's episode
    (``domain.alert_history``) is kept this long after it ended (one still firing is kept)."""

    events_days: float = 90.0
    notifications_days: float = 90.0
    samples_days: float = 30.0
    sample_hours_days: float = 400.0
    tombstone_days: float = 30.0
    alerts_days: float = 400.0

    def __post_init__(self) -> None:
        for name in ("events_days", "notifications_days", "samples_days",
                     "sample_hours_days", "tombstone_days", "alerts_days"):
            value = getattr(self, name)
            if not 1 <= value <= 36500:
                raise InvalidInput(f"retention {name} must be 1–36500 days, not {value}",
                                   hint=f"set GOVCLOUD_RETENTION_{name.upper()}")
        if self.sample_hours_days < self.samples_days:
            raise InvalidInput("retention sample_hours_days is shorter than samples_days",
                               hint="hourly samples are what raw samples are thinned to: keep "
                                    "them at least as long")

    def cutoffs(self, now: dt.datetime) -> Cutoffs:
        def before(days: float) -> dt.datetime:
            return now - dt.timedelta(days=days)

        return Cutoffs(events=before(self.events_days),
                       notifications=before(self.notifications_days),
                       samples=before(self.samples_days),
                       sample_hours=before(self.sample_hours_days),
                       tombstones=before(self.tombstone_days),
                       alerts=before(self.alerts_days))


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """What is older than these times goes (each ``before``, strictly)."""

    events: dt.datetime
    notifications: dt.datetime
    samples: dt.datetime
    sample_hours: dt.datetime
    tombstones: dt.datetime
    alerts: dt.datetime


def hour_of(at: dt.datetime) -> dt.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def thinned(samples: Iterable[tuple[int, str, dt.datetime]],
            kept: Set[tuple[str, dt.datetime]] = frozenset()) -> list[int]:
    """The ids of ``samples`` (id, site, time) that thinning deletes: every one but the
    earliest of its site's hour (ties: the lowest id) — and every one of an hour in ``kept``
    (site, hour), whose sample an earlier batch kept."""
    first: dict[tuple[str, dt.datetime], tuple[dt.datetime, int]] = {}
    ids: list[int] = []
    for sample_id, site, at in samples:
        ids.append(sample_id)
        key = (site, hour_of(at))
        if key in kept:
            continue
        held = first.get(key)
        if held is None or (at, sample_id) < held:
            first[key] = (at, sample_id)
    keep = {sample_id for _, sample_id in first.values()}
    return sorted(i for i in ids if i not in keep)


COMPACTED = ("provision_event", "migration_event", "host_drain_event", "notification",
             "capacity_sample_thinned", "capacity_sample", "server_tombstone", "alert_episode")


@dataclass(frozen=True, slots=True)
class Compaction:
    """What one compaction removed (or, dry run, would remove), per kind of row."""

    at: dt.datetime
    dry_run: bool
    removed: dict[str, int]
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "dry_run": self.dry_run,
                "removed": {k: self.removed.get(k, 0) for k in COMPACTED},
                "total": self.total, "seconds": round(self.seconds, 3),
                "audit": f"kept whole (at least {AUDIT_KEEP_DAYS} days; never compacted)"}
