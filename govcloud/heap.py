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
"""

from __future__ import annotations

import gc
import threading
import time

_LOCK = threading.Lock()  # one settle at a time (unfreeze/collect/freeze is not atomic)


def settle() -> float:
    """Collect everything once, then freeze what is alive; returns the seconds it took."""
    with _LOCK:
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        return time.perf_counter() - started
