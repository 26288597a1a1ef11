"""When a copy's next protection cycle is due, how failed cycles back off, which old recovery
points the history keeps, and the checksum manifest read from a guest (pure; docs/dr.md,
"Protection cycles").

Nothing is stored for the schedule but the recovery points themselves: a copy server's next
cycle is due one interval (per copy kind) after its last cycle when that one was good, and
after an exponential backoff counted from the consecutive failed or partial cycles since its
last good one otherwise — so a restart of the control plane resumes the same schedule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from govcloud.domain.protection import StandbyKind
from govcloud.domain.recovery import MAX_MANIFEST, MAX_PATH, PointStatus
from govcloud.errors import InvalidInput

DEFAULT_EVERY: Mapping[StandbyKind, timedelta] = {
    StandbyKind.HOT: timedelta(minutes=5),
    StandbyKind.WARM: timedelta(hours=1),
    StandbyKind.COLD: timedelta(hours=24),
}


@dataclass(frozen=True, slots=True)
class ProtectionSchedule:
    """How often each kind of copy is protected, how failures back off, how many recovery
    points of one copy server the history keeps."""

    every: Mapping[StandbyKind, timedelta] = field(default_factory=lambda: dict(DEFAULT_EVERY))
    backoff: timedelta = timedelta(minutes=1)
    backoff_max: timedelta = timedelta(hours=6)
    keep: int = 100

    def __post_init__(self) -> None:
        for kind, every in self.every.items():
            if every <= timedelta(0):
                raise InvalidInput(f"the {kind} copies' protection interval is not positive",
                                   hint="an interval of at least one second")
        if self.backoff <= timedelta(0) or self.backoff_max < self.backoff:
            raise InvalidInput("the protection backoff must be positive and at most its "
                               "maximum", hint="e.g. 60 s, at most 6 h")
        if self.keep < 1:
            raise InvalidInput("the protection history must keep at least one point",
                               hint="keep 1 or more recovery points per copy server")

    def interval(self, kind: StandbyKind) -> timedelta:
        return self.every.get(kind, DEFAULT_EVERY[kind])


@dataclass(frozen=True, slots=True)
class CycleHistory:
    """What the schedule needs of one copy server's recovery points: when its last cycle ran
    (any status), when its last good one did, and how many cycles failed since."""

    last_at: datetime | None = None
    last_ok_at: datetime | None = None
    failures: int = 0


def failures_since_ok(statuses: Sequence[PointStatus]) -> int:
    """The consecutive failed or partial cycles at the head of ``statuses`` (newest first)."""
    count = 0
    for status in statuses:
        if status is PointStatus.OK:
            break
        count += 1
    return count


def backoff_delay(failures: int, schedule: ProtectionSchedule, kind: StandbyKind) -> timedelta:
    """The wait after ``failures`` (≥ 1) consecutive failed cycles: the base backoff doubled
    per failure after the first, never more than the maximum nor the kind's own interval (a
    failing copy is never tried less often than a healthy one)."""
    cap = min(schedule.backoff_max, schedule.interval(kind))
    if failures < 1:
        return schedule.interval(kind)
    delay: timedelta = schedule.backoff * (2 ** min(failures - 1, 40))
    return min(delay, cap)


def next_due(kind: StandbyKind, history: CycleHistory,
             schedule: ProtectionSchedule) -> datetime | None:
    """When the copy server's next cycle is due; None: it never had one (due now)."""
    if history.last_at is None:
        return None
    if history.failures == 0:
        return history.last_at + schedule.interval(kind)
    return history.last_at + backoff_delay(history.failures, schedule, kind)


def is_due(kind: StandbyKind, history: CycleHistory, schedule: ProtectionSchedule,
           now: datetime) -> bool:
    due = next_due(kind, history, schedule)
    return due is None or due <= now


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored cycle of a copy server, as retention sees it."""

    id: int
    taken_at: datetime
    status: PointStatus


def points_to_prune(history: Sequence[HistoryEntry], keep: int,
                    latest_ok: int | None) -> list[int]:
    """The ids of the points beyond the newest ``keep`` (by time, then id) — never the
    latest good point ``latest_ok``, however old, nor the newest good one in ``history``."""
    ordered = sorted(history, key=lambda e: (e.taken_at, e.id), reverse=True)
    newest_ok = next((e.id for e in ordered if e.status is PointStatus.OK), None)
    spared = {i for i in (latest_ok, newest_ok) if i is not None}
    return [e.id for e in ordered[max(keep, 0):] if e.id not in spared]


# --- the checksum manifest of a guest ------------------------------------------------------------

_SUM = re.compile(r"\\?([0-9a-f]{64})  (?:\./)?(.+)")


def parse_sums(output: str, *, max_files: int = MAX_MANIFEST) -> tuple[tuple[str, str], ...]:
    """The manifest (path, ``sha256:<hex>``) in the output of checksums over data paths:
    a ``== <data path>`` line heads the ``sha256sum`` lines of the files under it (paths
    relative to it, ``./`` first). Lines of anything else (a login shell's warnings) are
    ignored; a file name sha256sum had to escape (a backslash first) is skipped — no
    manifest path holds a newline. InvalidInput past ``max_files`` files."""
    out: dict[str, str] = {}
    base: str | None = None
    for raw in output.splitlines():
        line = raw.rstrip("\r")
        if line.startswith("== "):
            base = line[3:].rstrip("/") or "/"
            continue
        m = _SUM.fullmatch(line)
        if base is None or m is None or line.startswith("\\"):
            continue
        path = f"{base.rstrip('/')}/{m.group(2)}"
        if len(path) > MAX_PATH:
            continue
        out[path] = "sha256:" + m.group(1)
        if len(out) > max_files:
            raise InvalidInput(f"the guest holds more than {max_files} files under its "
                               "protected paths",
                               hint="protect fewer paths (dr_protect_paths), or protect the "
                                    "data by volume snapshots")
    return tuple(sorted(out.items()))


def manifest_differences(expected: Sequence[tuple[str, str]],
                         found: Sequence[tuple[str, str]], *, most: int = 5) -> list[str]:
    """What differs between two manifests, in words (at most ``most`` paths, then a count)."""
    left, right = dict(expected), dict(found)
    missing = sorted(set(left) - set(right))
    extra = sorted(set(right) - set(left))
    changed = sorted(p for p in set(left) & set(right) if left[p] != right[p])
    words = ([f"missing {p}" for p in missing] + [f"differs {p}" for p in changed]
             + [f"extra {p}" for p in extra])
    if len(words) > most:
        return [*words[:most], f"and {len(words) - most} more"]
    return words
