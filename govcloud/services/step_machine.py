"""The resumable step machine's running half, shared by migration waves
(``services.migration_run``) and DR drills (``services.drill_run``): ordered steps (pure:
``govcloud.domain.steps``) whose status is recorded before and after each runs, a run that
holds its subject (a wave, a drill) by ``run_id`` and a heartbeat, and the runs of this
process, each on its own cancellable thread.

Another run may take a subject over only when the heartbeat is older than ``stale_after_s``
(its owner died): ``claim`` then marks what the dead run left ``running`` as interrupted, and
the new run resumes at the first step that has not succeeded.

``record_step`` records a step's status, committed, and is where the crash tests kill the
process: with ``GOVCLOUD_FAULT_KILL_AT`` naming a file that holds ``KIND:STEP:STATUS`` (e.g.
``drill:bring_up:running``; ``KIND/ID:STEP:STATUS`` for one subject only, e.g.
``failover/2:promote:running``), the process removes the file and dies (SIGKILL) right after
recording that status — once, so that the restarted process resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from govcloud.domain.steps import StepStatus
from govcloud.errors import ConflictError, GovCloudError
from govcloud.logging import redact
from govcloud.store.audit import write_session
from govcloud.store.inventory import aware

log = logging.getLogger(__name__)


class Held(Protocol):
    """A row a run holds: a wave's, a drill's."""

    run_id: str | None
    heartbeat_at: datetime | None


Load = Callable[[Session], Held]


def claim(engine: Engine, load: Load, run_id: str, *, now: datetime, stale_after_s: float,
          what: str, hint: str,
          interrupted: Callable[[Session, datetime], None] | None = None) -> None:
    """Take the subject ``load`` reads for ``run_id``, unless another live run holds it
    (``ConflictError`` naming ``what``, with ``hint``); ``interrupted`` then marks what a
    dead run left running, in the same transaction."""
    with write_session(engine) as session:
        row = load(session)
        beat = aware(row.heartbeat_at)
        if row.run_id and row.run_id != run_id and beat is not None and \
                now - beat < timedelta(seconds=stale_after_s):
            raise ConflictError(f"{what} is being run (run {row.run_id}, alive "
                                f"{(now - beat).total_seconds():.0f} s ago)", hint=hint)
        if interrupted is not None:
            interrupted(session, now)
        row.run_id, row.heartbeat_at = run_id, now
        session.add(row)
        session.commit()


FAULT_KILL_AT = "GOVCLOUD_FAULT_KILL_AT"


class SetStep(Protocol):
    """A repository's ``set_step`` (``drill_repo``, ``failover_repo``)."""

    def __call__(self, session: Session, subject_id: int, step: str, status: StepStatus, /,
                 *, at: datetime, output: str | None = None) -> None: ...


def fault_point(kind: str, step: str, status: str, subject_id: int | None = None) -> None:
    """The crash tests' fault: when ``GOVCLOUD_FAULT_KILL_AT`` names a file holding
    ``kind:step:status`` (or ``kind/subject_id:step:status``), remove it and die (SIGKILL)
    now."""
    path = os.environ.get(FAULT_KILL_AT)
    if not path:
        return
    try:
        wanted = Path(path).read_text().strip()
    except OSError:
        return
    if wanted in (f"{kind}:{step}:{status}", f"{kind}/{subject_id}:{step}:{status}"):
        with contextlib.suppress(OSError):
            Path(path).unlink()
        os.kill(os.getpid(), signal.SIGKILL)


def record_step(engine: Engine, set_step: SetStep, kind: str, subject_id: int, step: str,
                status: StepStatus, *, at: datetime, output: str | None = None) -> None:
    """Record ``step`` of ``kind`` (drill, failover) ``subject_id`` as ``status``, with its
    output (redacted), committed; then the crash tests' fault point (``fault_point``)."""
    with write_session(engine) as session:
        set_step(session, subject_id, step, status, at=at,
                 output=redact(output) if output is not None else None)
        session.commit()
    fault_point(kind, step, status.value, subject_id)


def release(session: Session, row: Held, run_id: str) -> None:
    """Let go of the subject (when ``run_id`` still holds it); the caller commits."""
    if row.run_id == run_id:
        row.run_id, row.heartbeat_at = None, None
        session.add(row)


def _beat(engine: Engine, load: Load, run_id: str, every_s: float,
          clock: Callable[[], datetime], stop: threading.Event,
          lost: threading.Event | None, give_up_after_s: float | None) -> None:
    """Beat until ``stop``; a beat that fails (the database out of reach, failing over) is
    tried again at the next. ``lost`` is set — the run should stop — when another run holds
    the subject now (it was taken over), or when no beat has succeeded for
    ``give_up_after_s`` (another replica may take it over at any moment)."""
    last_ok = time.monotonic()
    while not stop.wait(every_s):
        try:
            with write_session(engine) as session:
                row = load(session)
                if row.run_id != run_id:
                    log.warning("run %s: another run (%s) holds its subject now: stopping",
                                run_id, row.run_id)
                    if lost is not None:
                        lost.set()
                    return
                row.heartbeat_at = clock()
                session.add(row)
                session.commit()
            last_ok = time.monotonic()
        except (GovCloudError, SQLAlchemyError) as exc:  # it outlives a database switch
            log.warning("run %s: heartbeat failed: %s", run_id, exc)
            if lost is not None and give_up_after_s is not None and \
                    time.monotonic() - last_ok > give_up_after_s:
                log.warning("run %s: no heartbeat for %.0f s: stopping before another "
                            "replica takes it over", run_id, give_up_after_s)
                lost.set()
                return


@contextmanager
def heartbeat(engine: Engine, load: Load, run_id: str, *, every_s: float,
              clock: Callable[[], datetime], lost: threading.Event | None = None,
              give_up_after_s: float | None = None) -> Iterator[None]:
    """Keep the claim alive (a beat every ``every_s``) while the body runs; ``lost`` is set
    when the claim is lost (see ``_beat``)."""
    stop = threading.Event()
    beat = threading.Thread(target=_beat, args=(engine, load, run_id, every_s, clock, stop,
                                                lost, give_up_after_s),
                            daemon=True, name=f"heartbeat-{run_id}")
    beat.start()
    try:
        yield
    finally:
        stop.set()


class Runs:
    """The runs of this control-plane process: subject → (thread, cancel event); cancel from
    any thread. ``busy_hint`` is what to say when a subject already runs here."""

    def __init__(self, busy_hint: str = "follow it with `govcloud migrate events --follow`"
                 ) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._hint = busy_hint

    def start(self, subject: str, target: Callable[[threading.Event], None]) -> None:
        with self._lock:
            running = self._runs.get(subject)
            if running is not None and running[0].is_alive():
                raise ConflictError(f"{subject} is already running here", hint=self._hint)
            cancel = threading.Event()
            thread = threading.Thread(target=target, args=(cancel,), daemon=True,
                                      name=f"run-{subject}")
            self._runs[subject] = (thread, cancel)
            thread.start()

    def running(self, subject: str) -> bool:
        with self._lock:
            found = self._runs.get(subject)
            return found is not None and found[0].is_alive()

    def cancel(self, subject: str) -> bool:
        with self._lock:
            found = self._runs.get(subject)
        if found is None or not found[0].is_alive():
            return False
        found[1].set()
        return True

    def join(self, subject: str, timeout: float | None = None) -> None:
        with self._lock:
            found = self._runs.get(subject)
        if found is not None:
            found[0].join(timeout)
