"""Group commit: many short write transactions on one database become one.

Approvals serialise on purpose (a reservation never over-commits), so with many approvers at
once each waits for all the transactions before it. Here a caller queues its work; one caller
at a time leads: it takes everything queued, runs each piece in its own SAVEPOINT of one write
transaction (``write_session``: BEGIN IMMEDIATE on SQLite, row locks on PostgreSQL), in arrival
order, and commits once. The outcome equals running them one after another: each piece sees
what the ones before it wrote; a piece that raises is rolled back to its savepoint and fails
alone, the rest commit. When the commit itself fails, every piece of the batch fails with it
(nothing of it was written). After its batch, the leader hands the lead to the first caller
that queued meanwhile, so no caller waits for more than the batch before its own.

On PostgreSQL a batch takes many row locks in one transaction. So that two writers never wait
on each other in a cycle, each piece names the rows it will lock (``locks``) and the batch
takes the union of them first, in one global order (``prelock``), as every single writer does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.store.audit import write_session


@dataclass
class Piece:
    """One caller's item in a batch; the batch's handler sets ``result`` or ``error``."""

    item: Any
    result: Any = None
    error: BaseException | None = None
    finished: bool = False
    lead: bool = False
    wake: threading.Event = field(default_factory=threading.Event)


class Batcher:
    """Callers queue items; one at a time leads and hands everything queued to ``handle``
    (a list of Pieces, in arrival order), which sets each piece's result or error. When
    ``handle`` raises, every piece it left unanswered fails with that error. After its batch
    the leader hands the lead to the first caller that queued meanwhile."""

    def __init__(self, handle: Callable[[list[Piece]], None]) -> None:
        self.handle = handle
        self._lock = threading.Lock()
        self._queue: list[Piece] = []
        self._leading = False
        self.batches = 0  # handled batches (for tests and benchmarks)

    def run(self, item: Any) -> Any:
        """Queue ``item``; return its result once its batch was handled, or raise its error."""
        piece = Piece(item)
        with self._lock:
            self._queue.append(piece)
            if not self._leading:
                self._leading = piece.lead = True
        while not piece.finished:
            if piece.lead:
                with self._lock:
                    batch, self._queue = self._queue, []
                self._handle(batch)
                with self._lock:
                    if self._queue:
                        self._queue[0].lead = True
                        self._queue[0].wake.set()
                    else:
                        self._leading = False
            else:
                piece.wake.wait()
        if piece.error is not None:
            raise piece.error
        return piece.result

    def _handle(self, batch: list[Piece]) -> None:
        try:
            self.handle(batch)
        except Exception as exc:  # noqa: BLE001 - raised to every caller left unanswered
            for piece in batch:
                if piece.error is None and not piece.finished:
                    piece.error, piece.result = exc, None
        finally:
            self.batches += 1
            for piece in batch:
                piece.finished = True
                piece.wake.set()


    @property
    def queued(self) -> int:
        """Callers waiting for the next batch."""
        with self._lock:
            return len(self._queue)


class GroupCommit:
    """Batches the write transactions of concurrent callers on ``engine`` (see the module)."""

    def __init__(self, engine: Engine,
                 prelock: Callable[[Session, Sequence[Hashable]], None] | None = None) -> None:
        self.engine = engine
        self.prelock = prelock
        self.batcher = Batcher(self._commit)

    def run(self, fn: Callable[[Session], Any], locks: Iterable[Hashable] = ()) -> Any:
        """Run ``fn(session)`` inside a write transaction shared with other callers; return
        its result once that transaction committed, or raise what ``fn`` (or the commit)
        raised. ``fn`` must not commit or roll back."""
        return self.batcher.run((fn, tuple(locks)))

    def _commit(self, batch: list[Piece]) -> None:
        try:
            with write_session(self.engine) as session:
                if self.prelock is not None:
                    self.prelock(session, list(dict.fromkeys(
                        k for p in batch for k in p.item[1])))
                for piece in batch:
                    try:
                        with session.begin_nested():
                            piece.result = piece.item[0](session)
                    except Exception as exc:  # noqa: BLE001 - raised to its caller; rolled back alone
                        piece.error, piece.result = exc, None
                session.commit()
        except Exception as exc:  # noqa: BLE001 - raised to every caller; nothing written
            for piece in batch:
                if piece.error is None:
                    piece.error, piece.result = exc, None


_COMMITTERS: weakref.WeakKeyDictionary[Engine, GroupCommit] = weakref.WeakKeyDictionary()
_COMMITTERS_LOCK = threading.Lock()


def group_commit(engine: Engine, prelock: Callable[[Session, Sequence[Hashable]], None]
                 | None = None) -> GroupCommit:
    """The one GroupCommit of ``engine`` (created on first use, with ``prelock``)."""
    with _COMMITTERS_LOCK:
        committer = _COMMITTERS.get(engine)
        if committer is None:
            committer = _COMMITTERS[engine] = GroupCommit(engine, prelock)
        return committer
