"""Which Cinder backups a volume protection cycle makes and keeps (pure; docs/dr.md, "Volume
protection cycles").

All the backups govcloud made of one volume form one series in time order. Cinder makes an
incremental backup on top of the volume's latest available one, so the series splits into
*chains*: a full backup and the incrementals after it, each needing the ones before it in its
chain to be restored. A chain is at most ``keep`` backups long (then a full one starts the
next), and retention keeps whole chain prefixes: the newest ``keep`` backups, the ones a
latest good recovery point names, and every backup those need.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

NAME_PREFIX = "govcloud-protect-"
LIVE = frozenset({"available", "creating", "restoring", "backing-up"})


@dataclass(frozen=True, slots=True)
class BackupEntry:
    """One backup of the series as the cloud lists it."""

    id: str
    name: str          # NAME_PREFIX + volume id + "-" + the time it was taken: sorts by time
    incremental: bool
    status: str


def backup_name(volume_id: str, taken: datetime) -> str:
    """The name of the backup of ``volume_id`` taken at ``taken`` (sorts in time order)."""
    return f"{NAME_PREFIX}{volume_id}-{taken.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def series(entries: Sequence[BackupEntry], volume_id: str) -> list[BackupEntry]:
    """The backups of ``volume_id`` govcloud made, oldest first."""
    mine = f"{NAME_PREFIX}{volume_id}-"
    return sorted((e for e in entries if e.name.startswith(mine)), key=lambda e: e.name)


def chains(entries: Sequence[BackupEntry]) -> list[list[BackupEntry]]:
    """The series (oldest first) split into chains at each full backup; backups in error or
    being deleted are in none (Cinder builds on available ones only; one being made or
    restored from counts)."""
    out: list[list[BackupEntry]] = []
    for e in entries:
        if e.status not in LIVE:
            continue
        if not e.incremental or not out:
            out.append([e])
        else:
            out[-1].append(e)
    return out


def want_incremental(entries: Sequence[BackupEntry], keep: int) -> bool:
    """Whether the next backup is incremental: there is an available one to build on and the
    latest chain is shorter than ``keep``."""
    found = chains([e for e in entries if e.status == "available"])
    return bool(found) and len(found[-1]) < keep


def needs(entries: Sequence[BackupEntry], backup_id: str) -> list[str]:
    """``backup_id`` and the backups before it in its chain, oldest first (what restoring it
    needs); just ``backup_id`` when it is in no chain."""
    for chain in chains(entries):
        ids = [e.id for e in chain]
        if backup_id in ids:
            return ids[:ids.index(backup_id) + 1]
    return [backup_id]


def to_delete(entries: Sequence[BackupEntry], keep: int,
              protected: Collection[str]) -> list[str]:
    """The backups of the series (oldest first) retention deletes, newest first (a backup
    after the incrementals built on it): all but the newest ``keep``, the ``protected`` ones
    (named by a latest good recovery point) and those they need. A backup in error goes
    unless protected; one still being made or deleted is left alone."""
    kept = {e.id for e in entries[-keep:]} | set(protected)
    for chain in chains(entries):
        ids = [e.id for e in chain]
        last = max((i for i, x in enumerate(ids) if x in kept), default=-1)
        kept.update(ids[:last + 1])
    return [e.id for e in reversed(entries)
            if e.id not in kept and e.status in ("available", "error")]


__all__ = ["NAME_PREFIX", "BackupEntry", "backup_name", "chains", "needs", "series",
           "to_delete", "want_incremental"]
