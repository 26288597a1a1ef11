"""Keep the control plane's long-lived caches out of the garbage collector's full passes.

After a sync the server holds the inventory snapshot and what it derives from it (hundreds of
thousands of objects at province scale) until the next sync. CPython's full (generation-2)
collection walks every tracked object, so a pass that happened to start during a request
stopped every thread for the whole walk (130 ms measured during a batch of approvals,
bench/provision_bench.py). ``settle()`` runs after each sync instead, in the sync worker's
thread: it makes the objects frozen at the last settle collectable again, collects once, and
freezes what is alive now (``gc.freeze``), so that the collections between two syncs only walk
what was allocated since. Cyclic garbage is therefore reclaimed at the next settle at the
latest; objects that are not in a cycle are freed by reference counting as always.

``bulk_allocations()`` is for a sync itself: it reads and writes hundreds of thousands of
short-lived containers (parsed JSON, rows), and at CPython's default thresholds (700, 10, 10) the
collector ran ~1,300 young and ~120 middle passes and 6–7 full ones during one cities-scale
full sync (24 sites, 60,000 servers) — about a fifth of the sync's CPU. While a sync runs the
young generation is collected every 20,000 allocations instead (``BULK_THRESHOLDS``): ~40
passes and at most one full one, 1.5–2.4 s less CPU per cities full sync of 13–17 s, on
PostgreSQL and SQLite alike. The thresholds are the process's, so they are raised for as long
as any sync runs and put back when the last one ends.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.Lock()  # one settle at a time (unfreeze/collect/freeze is not atomic)

BULK_THRESHOLDS = (20_000, 20, 10)  # gc.set_threshold while a sync runs (the default: 700, 10, 10)
_BULK_LOCK = threading.Lock()
_bulk_runs = 0  # how many bulk_allocations blocks are running now
_bulk_saved: tuple[int, int, int] | None = None  # the thresholds before the first of them


def settle() -> float:
    """Collect everything once, then freeze what is alive; returns the seconds it took."""
    with _LOCK:
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return time.perf_counter() - started


@contextmanager
def bulk_allocations() -> Iterator[None]:
    """Collect less often while the block runs: each threshold is raised to
    ``BULK_THRESHOLDS`` (one already higher is kept) when the first of the blocks running at
    once (in any threads) begins, and the thresholds found then are put back when the last
    one ends. Garbage that is not in a cycle is freed by reference counting as always."""
    global _bulk_runs, _bulk_saved
    with _BULK_LOCK:
        if _bulk_runs == 0:
            _bulk_saved = gc.get_threshold()
            gc.set_threshold(*(max(now, bulk) for now, bulk in
                               zip(_bulk_saved, BULK_THRESHOLDS, strict=True)))
        _bulk_runs += 1
    try:
        yield
    finally:
        with _BULK_LOCK:
            _bulk_runs -= 1
            if _bulk_runs == 0 and _bulk_saved is not None:
                gc.set_threshold(*_bulk_saved)
                _bulk_saved = None
