"""Keeping every copy's data current: which copy servers are due a protection cycle, running
cycles (by the worker, or on demand), the retention of their history, and the copies whose
last cycle failed (docs/dr.md, "Protection cycles").

The schedule keeps no state of its own: it is read from the recovery points
(``store.protection_repo.cycle_states``), so a restarted control plane resumes it. A copy
server runs one cycle at a time in this process (a second one asked meanwhile is reported
busy, never run twice).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govcloud.domain.protection import Replication, StandbyKind
from govcloud.domain.protection_schedule import (
    CycleHistory,
    HistoryEntry,
    is_due,
    next_due,
    points_to_prune,
)
from govcloud.domain.rbac import Principal
from govcloud.domain.recovery import PointRecord, PointStatus
from govcloud.errors import NotFound, PermanentError
from govcloud.services.dr_posture import CopyServer, system_copies
from govcloud.services.failover_state import CycleResult as FinalCycleResult
from govcloud.services.migration import audit_event
from govcloud.services.protection_cycle import CycleDeps, Progress, run_cycle
from govcloud.services.protection_replication import run_replication_check
from govcloud.services.protection_volumes import run_volume_cycle
from govcloud.store import protection_repo as repo
from govcloud.store.engine import write_begin

log = logging.getLogger(__name__)
MAX_LINES = 2000
MAX_RUNS = 32


@dataclass(frozen=True, slots=True)
class CycleResult:
    """One copy server's outcome in a run: its recovery point, or why no cycle ran."""

    copy: CopyServer
    point: PointRecord | None
    skipped: str | None = None


@dataclass
class ProtectRun:
    """An on-demand run: its progress lines and, once done, each copy's outcome."""

    id: str
    actor: str
    copies: int
    lines: list[str] = field(default_factory=list)
    results: list[CycleResult] = field(default_factory=list)
    done: bool = False

    def say(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(line[:500])


@dataclass(frozen=True, slots=True)
class FailingCopy:
    """A copy server whose last cycle failed: how many failed in a row, the last reason."""

    department: str
    system: str
    site: str
    server_id: str
    failures: int
    last_at: datetime
    last_ok_at: datetime | None
    error: str | None


def failing_copies(engine: Any, *, departments: Sequence[str] | None = None,
                   errors: bool = True) -> list[FailingCopy]:
    """The copy servers whose last cycle was not ``ok`` (what an alert or a gauge reads);
    ``errors=False`` leaves their last reasons out (one query, not one more per copy)."""
    with engine.connect() as conn:
        failing = [s for s in repo.cycle_states(conn, departments=departments) if s.failures]
        last = {(s.site, s.server_id): repo.recovery_points(conn, s.site, s.server_id, limit=1)
                for s in failing if errors}
    out = []
    for s in failing:
        newest = last.get((s.site, s.server_id), [])
        out.append(FailingCopy(s.department, s.system, s.site, s.server_id, s.failures,
                               s.last_at, s.last_ok_at, newest[0].error if newest else None))
    return out


class Protector:
    """The protection cycles of one control plane (the plane builds one)."""

    def __init__(self, deps: CycleDeps) -> None:
        self.deps = deps
        self._lock = threading.Lock()
        self._busy: set[tuple[str, str]] = set()
        self._runs: dict[str, ProtectRun] = {}

    # --- which copies ------------------------------------------------------------------------

    def copies(self, *, departments: Sequence[str] | None = None,
               system: str | None = None) -> list[CopyServer]:
        settings = self.deps.settings
        return system_copies(self.deps.engine, settings.protection_policy(),
                             settings.site_list(), departments=departments, system=system)

    def due(self, now: datetime) -> list[CopyServer]:
        """The copies whose cycle is due at ``now``: never protected, an interval after a good
        cycle, a backoff after failed ones — and a cold copy left running (a cycle killed
        before it shelved the copy again) at once, unless it is backing off."""
        schedule = self.deps.settings.protection_schedule()
        with self.deps.engine.connect() as conn:
            states = {(s.site, s.server_id): s for s in repo.cycle_states(conn)}
        out = []
        for c in self.copies():
            history = _history(states, c)
            left_up = (c.kind is StandbyKind.COLD and c.status != "SHELVED_OFFLOADED"
                       and history.failures == 0)
            if left_up or is_due(c.kind, history, schedule, now):
                out.append(c)
        return sorted(out, key=lambda c: (next_due(c.kind, _history(states, c), schedule)
                                          or now, c.site, c.server_id))

    # --- cycles -------------------------------------------------------------------------------

    def _claim(self, c: CopyServer) -> bool:
        with self._lock:
            if (c.site, c.server_id) in self._busy:
                return False
            self._busy.add((c.site, c.server_id))
            return True

    def _release(self, c: CopyServer) -> None:
        with self._lock:
            self._busy.discard((c.site, c.server_id))

    def cycle(self, c: CopyServer, *, paths: Sequence[str] | None = None,
              cancel: threading.Event | None = None,
              progress: Progress | None = None) -> CycleResult:
        """One cycle of ``c`` (busy: none), then the retention of its history."""
        if not self._claim(c):
            return CycleResult(c, None, "a cycle of this copy is already running")
        try:
            point = run_volume_cycle(self.deps, c, paths=paths, progress=progress)
            if point is None:  # not protected by its volumes: file by file
                point = run_cycle(self.deps, c, paths=paths, cancel=cancel, progress=progress)
            if c.replication is Replication.SYNCHRONOUS:  # RPO 0: the storage must copy
                run_replication_check(self.deps, c, progress=progress)
        finally:
            self._release(c)
        self.prune(c)
        return CycleResult(c, point)

    def protect(self, copies: Sequence[CopyServer], *, paths: Sequence[str] | None = None,
                cancel: threading.Event | None = None,
                progress: Progress | None = None) -> list[CycleResult]:
        """A cycle of each copy, ``dr_protect_concurrency`` at once, in the copies' order."""
        if not copies:
            return []
        workers = min(len(copies), self.deps.settings.dr_protect_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="protect") as pool:
            futures = [pool.submit(self.cycle, c, paths=paths, cancel=cancel,
                                   progress=progress) for c in copies]
            return [f.result() for f in futures]

    def run_due(self, cancel: threading.Event | None = None) -> list[CycleResult]:
        """The worker's round: a cycle of every copy due now."""
        due = self.due(self.deps.clock())
        results = self.protect(due, cancel=cancel)
        for r in results:
            if r.point is not None and r.point.status is not PointStatus.OK:
                log.warning("protection: %s/%s of %s/%s: %s cycle: %s", r.copy.site,
                            r.copy.server_id, r.copy.department, r.copy.system,
                            r.point.status, r.point.error)
        return results

    def prune(self, c: CopyServer) -> int:
        """Delete the copy server's points beyond the newest ``dr_protect_keep`` (never its
        latest good one); how many went."""
        keep = self.deps.settings.dr_protect_keep
        with write_begin(self.deps.engine) as conn:
            history = repo.recovery_points(conn, c.site, c.server_id,
                                           limit=keep + 50)
            if len(history) <= keep:
                return 0
            entries = [HistoryEntry(p.id, p.taken_at, p.status) for p in history
                       if p.id is not None]
            doomed = points_to_prune(entries, keep,
                                     repo.latest_point_id(conn, c.site, c.server_id))
            return repo.delete_recovery_points(conn, doomed)

    # --- on demand ----------------------------------------------------------------------------

    def start(self, principal: Principal, *, departments: Sequence[str] | None,
              system: str | None, paths: Sequence[str] | None = None,
              spawn: Callable[[Callable[[], None]], Any] | None = None) -> ProtectRun:
        """Start one cycle of every matching copy in the background (audited); the run to
        follow. NotFound when nothing matches."""
        copies = self.copies(departments=departments, system=system)
        if not copies:
            what = f"system {system!r}" if system else "the departments asked for"
            raise NotFound(f"no DR copy to protect for {what}",
                           hint="`govcloud dr posture` lists the systems and their copies; "
                                "a system gets copies from its DR level when provisioned")
        run = ProtectRun(uuid.uuid4().hex[:12], principal.name, len(copies))
        for d in sorted({c.department for c in copies}):
            audit_event(self.deps.engine, actor=principal.name, action="dr.protect",
                        department=d, after={"run": run.id, "system": system,
                                             "copies": sum(c.department == d for c in copies)})
        with self._lock:
            if len(self._runs) >= MAX_RUNS:
                for old in [k for k, v in self._runs.items() if v.done][:MAX_RUNS // 2]:
                    del self._runs[old]
            self._runs[run.id] = run

        def work() -> None:
            try:
                run.say(f"protecting {len(copies)} copy servers")
                run.results = self.protect(copies, paths=paths, progress=run.say)
            except Exception as exc:  # the run must end, and say why
                log.exception("protect run %s failed", run.id)
                run.say(f"error: {exc}")
            finally:
                run.done = True

        (spawn or _thread)(work)
        return run

    def get_run(self, run_id: str) -> ProtectRun:
        with self._lock:
            found = self._runs.get(run_id)
        if found is None:
            raise NotFound(f"no protect run {run_id[:40]!r}",
                           hint="a run is kept in the server's memory until it restarts")
        return found


def _history(states: dict[tuple[str, str], Any], c: CopyServer) -> CycleHistory:
    s = states.get((c.site, c.server_id))
    return CycleHistory() if s is None else CycleHistory(s.last_at, s.last_ok_at, s.failures)


def _thread(work: Callable[[], None]) -> None:
    threading.Thread(target=work, name="dr-protect", daemon=True).start()


class ProtectorFinalCycle:
    """A planned failover's final protection cycle (``services.failover_state.FinalCycle``):
    one cycle of each of the system's copy servers in the target site, now; a cycle that does
    not end ``ok`` stops the failover before production is stopped."""

    def __init__(self, protector: Protector) -> None:
        self.protector = protector

    def __call__(self, department: str, system: str, site: str,
                 server_ids: Sequence[str]) -> FinalCycleResult:
        wanted = set(server_ids)
        copies = [c for c in self.protector.copies(departments=[department], system=system)
                  if c.site == site and c.server_id in wanted]
        if not copies:
            return FinalCycleResult(skipped=f"no copy server of {system} in {site} to protect")
        results = self.protector.protect(copies)
        bad = [r for r in results if r.point is None or r.point.status is not PointStatus.OK]
        if bad:
            why = "; ".join(f"{r.copy.name}: " + (r.skipped or (r.point.error if r.point
                                                             else None) or "not ok")
                            for r in bad)
            raise PermanentError(f"the final protection cycle failed: {why}"[:2000],
                                 hint="the production servers still run; look at the copy, "
                                      "then run the failover again (or --unplanned)")
        return FinalCycleResult(output="final protection cycle: " + ", ".join(
            f"{r.copy.name} point #{r.point.id}" for r in results if r.point is not None))
