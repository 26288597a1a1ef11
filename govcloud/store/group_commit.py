"""Group commit: many short write transactions on one database become one.

Approvals serialise on purpose (a reservation never over-commits), so with many approvers at
once each would wait for every transaction before it. With a ``Batcher`` a caller queues its
item; one caller at a time leads: it takes everything queued and hands it to the handler,
which decides them in arrival order inside one write transaction and commits once (the
provisioning approvals: ``services/provisioning_approval``). After its batch the leader hands
the lead to the first caller that queued meanwhile, so no caller waits for more than the batch
before its own. It lives beside the store: it is how writers share one transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


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
    the leader hands the lead to the first caller that queued meanwhile.

    ``gather_s``: when the last batch held several items, a new leader waits up to this long
    for as many to queue before it starts (as a database's commit delay does): under load the
    callers that were answered together come back together, and one batch then serves them
    all instead of a batch of one and a batch of the rest. With one caller at a time (the last
    batch held one) nobody waits.

    ``idle_s``: a gathering leader also stops once nobody has queued for this long — the
    callers still to come are gone, not late — so ``gather_s`` can be generous enough for the
    stragglers of a big batch (threads waking one after another) without every batch waiting
    it out when fewer callers come back. With ``idle_s`` a leader gathers even after a batch
    of one, until nobody has queued for ``idle_s``: a caller alone waits ``idle_s``, and a
    burst of callers after a quiet spell is answered in one batch instead of a batch of its
    first caller and then one of all the others."""

    def __init__(self, handle: Callable[[list[Piece]], None], *, gather_s: float = 0.0,
                 idle_s: float | None = None) -> None:
        self.handle = handle
        self.gather_s = gather_s
        self.idle_s = idle_s
        self._arrived = 0.0  # monotonic time of the last caller queued
        self._lock = threading.Condition()
        self._queue: list[Piece] = []
        self._leading = False
        self._last = 0  # items in the last batch
        self.batches = 0  # handled batches (for tests and benchmarks)

    def run(self, item: Any) -> Any:
        """Queue ``item``; return its result once its batch was handled, or raise its error."""
        piece = Piece(item)
        with self._lock:
            self._queue.append(piece)
            self._arrived = time.monotonic()
            if not self._leading:
                self._leading = piece.lead = True
            elif 1 < self._last <= len(self._queue):
                self._lock.notify_all()  # a gathering leader has all it waits for
        while not piece.finished:
            if piece.lead:
                with self._lock:
                    # gather when the last batch held several, or (with idle_s) always: a
                    # burst's first caller then waits for the rest instead of going alone
                    if self.gather_s > 0 and (self._last > 1 or self.idle_s is not None):
                        deadline = time.monotonic() + self.gather_s
                        while self._last <= 1 or len(self._queue) < self._last:
                            end = deadline if self.idle_s is None else \
                                min(deadline, self._arrived + self.idle_s)
                            left = end - time.monotonic()
                            if left <= 0:
                                break
                            self._lock.wait(left)
                    batch, self._queue = self._queue, []
                self._handle(batch)
                with self._lock:
                    self._last = len(batch)
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
