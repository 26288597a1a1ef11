"""Compaction: delete the history the retention policy no longer keeps (progress events,
delivered notifications, capacity samples past their time, tombstones of long-deleted
servers, alert episodes that ended long ago), in batches of their own transactions, and say
what went in the audit log.

Run by the compaction worker inside ``govcloud serve`` (``workers/compaction.py``, every
``compact_interval_s``) and by ``govcloud admin compact`` (direct database access; ``--dry-run``
counts without deleting). The audit log is never compacted: its chain verifies after any
compaction because no entry of it is touched (``govcloud.domain.retention``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from govcloud.domain.retention import Compaction, Cutoffs, RetentionPolicy, hour_of, thinned
from govcloud.store import retention_repo as repo
from govcloud.store.audit import append_committed
from govcloud.store.engine import write_begin

log = logging.getLogger(__name__)

BATCH = 5000


def compact(engine: Engine, *, policy: RetentionPolicy, now: dt.datetime,
            dry_run: bool = False, actor: str = "retention", batch: int = BATCH,
            clock: Callable[[], dt.datetime] | None = None) -> Compaction:
    """Compact the database as ``policy`` says at ``now``; what went (or would go). A
    compaction that removed anything is recorded in the audit log as ``retention.compact``
    (``clock``: the audit entry's time, default ``now``)."""
    started = time.perf_counter()
    cut = policy.cutoffs(now)
    removed: dict[str, int] = {}
    for name in repo.EVENT_TABLES:
        removed[name] = _drain(engine, name, cut.events, dry_run, batch)
    removed["notification"] = _drain(engine, "notification", cut.notifications, dry_run, batch)
    removed["capacity_sample"] = _drain(engine, "capacity_sample", cut.sample_hours, dry_run,
                                        batch)
    removed["capacity_sample_thinned"] = _thin(engine, cut, dry_run, batch)
    removed["server_tombstone"] = _tombstones(engine, cut.tombstones, dry_run)
    removed["alert_episode"] = _alerts(engine, cut.alerts, dry_run)
    report = Compaction(at=now, dry_run=dry_run, removed=removed,
                        seconds=time.perf_counter() - started)
    if report.total and not dry_run:
        append_committed(engine, actor=actor, action="retention.compact", target="database",
                         after={"removed": removed, "policy": _policy(policy)},
                         clock=clock or (lambda: now))
        log.info("compaction removed %d rows in %.2f s: %s", report.total, report.seconds,
                 ", ".join(f"{k} {v}" for k, v in removed.items() if v))
    return report


def _policy(policy: RetentionPolicy) -> dict[str, float]:
    return {"events_days": policy.events_days, "notifications_days": policy.notifications_days,
            "samples_days": policy.samples_days, "sample_hours_days": policy.sample_hours_days,
            "tombstone_days": policy.tombstone_days, "alerts_days": policy.alerts_days}


def _drain(engine: Engine, name: str, before: dt.datetime, dry_run: bool, batch: int) -> int:
    """Delete ``name``'s old rows a batch per transaction; how many."""
    if dry_run:
        with engine.connect() as conn:
            return repo.count_old(conn, name, before)
    total = 0
    while True:
        with write_begin(engine) as conn:
            gone = repo.delete_old(conn, name, before, limit=batch)
        total += gone
        if gone < batch:
            return total


def _thin(engine: Engine, cut: Cutoffs, dry_run: bool, batch: int) -> int:
    """Thin the capacity samples older than ``samples_days`` (and younger than the hourly
    cut-off) to the first of each site's hour; how many went."""
    total, after = 0, 0
    kept: set[tuple[str, dt.datetime]] = set()  # the hours whose sample a batch kept
    while True:
        with engine.connect() as conn:
            samples = repo.samples_between(conn, cut.sample_hours, cut.samples,
                                           after_id=after, limit=batch)
        if not samples:
            return total
        doomed = thinned(samples, kept)
        kept.update((site, hour_of(at)) for _, site, at in samples)
        if not dry_run and doomed:
            with write_begin(engine) as conn:
                repo.delete_samples(conn, doomed)
        total += len(doomed)
        after = samples[-1][0]


def _tombstones(engine: Engine, before: dt.datetime, dry_run: bool) -> int:
    with engine.connect() as conn:
        per_site = repo.tombstone_sites(conn, before)
    if dry_run:
        return sum(per_site.values())
    total = 0
    for site in sorted(per_site):
        with write_begin(engine) as conn:
            total += repo.purge_site_tombstones(conn, site, before)
    return total


def _alerts(engine: Engine, before: dt.datetime, dry_run: bool) -> int:
    """The alert episodes that ended before ``before`` (few: one per alert firing)."""
    if dry_run:
        with engine.connect() as conn:
            return repo.count_ended_alerts(conn, before)
    with write_begin(engine) as conn:
        return repo.delete_ended_alerts(conn, before)
