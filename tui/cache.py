"""Every server the principal may see, fetched in the background (pages of 1,000 from
``GET /servers``, the sites side by side) and shared by the views that list servers;
refreshed when older than ``max_age_s``. The first fetch of a site reads all its servers; each
refresh after it asks only for what changed since (``changed_since``: the servers changed and
the ids of those gone) and patches what it holds — unless the control plane answers with a
full listing (``full``: the cursor was too old, or of another database), which replaces it.
With ``prepare``, the fetching thread also builds what the list shows (``rows``: the table's
rows, sorted), so opening the list does no work per row; a refresh that changed nothing keeps
the same list and rows. Thread-safe: the app's prefetch and a view asking at the same time
make one fetch between them."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from govcloud.api.models import Server, ServerGone
from govcloud.client import ApiClient

PAGE = 1000
FULL_COLLECTION_EVERY = 1000  # collections of the middle generation between full ones


def settle_heap() -> None:
    """Keep the servers and rows that live until the next fetch out of the garbage
    collector's full passes (each would otherwise stall a keystroke at 30,000 servers), without
    keeping what the last fetch froze forever: unfreeze it first, so the collection reclaims
    the cycles of the servers and rows just replaced, then freeze what is alive now. An object
    that stays frozen is still freed by reference counting; only cycles need the collector.

    Full passes are then left mostly to this. Python makes one after every 10 passes over
    its middle generation, once a quarter as many objects as the last full pass kept have
    aged into the oldest; with the servers frozen, a full pass keeps only the console's own
    objects, so the strips each keystroke draws (cached by Textual) brought one every few
    keys while a filter was typed at 60,000 servers: 10-20 ms each on a loaded machine.
    After ``FULL_COLLECTION_EVERY`` such passes instead; every fetch that changed the
    servers makes one here anyway.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


@dataclass(frozen=True, slots=True)
class SiteRead:
    """What one refresh read of one site: its servers now, whether that was a full listing,
    how many servers and gone ids came over the wire, and the cursor for the next time."""

    servers: dict[str, Server]
    full: bool
    received: int
    gone: int
    cursor: str


class ServerCache:
    def __init__(self, *, max_age_s: float = 60.0,
                 prepare: Callable[[list[Server]], Any] | None = None) -> None:
        self.max_age_s = max_age_s
        self.prepare = prepare
        self._prepared: tuple[list[Server], Any] | None = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._servers: list[Server] | None = None
        self._sites: dict[str, SiteRead] = {}
        self._at = 0.0
        self.loading = 0          # servers read so far by a fetch in progress
        self.version = 0          # bumped by every completed fetch
        self.fetch_seconds: float | None = None
        self.received = 0         # servers and gone ids the last fetch was sent
        self.full_sites = 0       # sites the last fetch had to read whole

    @property
    def ready(self) -> bool:
        return self._servers is not None

    def peek(self) -> list[Server] | None:
        return self._servers

    def prepared(self, servers: list[Server]) -> Any:
        """What ``prepare`` made of ``servers`` (None: not these servers, or no prepare)."""
        held = self._prepared
        return held[1] if held is not None and held[0] is servers else None

    def _pages(self, api: ApiClient, site: str, since: str | None
               ) -> tuple[list[Server], list[ServerGone], bool, str]:
        """Every page of one listing of ``site`` (changes since ``since``, or all)."""
        servers: list[Server] = []
        gone: list[ServerGone] = []
        cursor = None
        first = None
        while True:
            page = api.servers(site=site, limit=PAGE, cursor=cursor, changed_since=since)
            if first is None:
                first = page
            elif page.full != first.full:  # the cursor went stale while paging: read it all
                return self._pages(api, site, None)
            servers += page.servers
            gone += page.deleted
            with self._count_lock:
                self.loading += len(page.servers)
            cursor = page.next_cursor
            if cursor is None:
                return servers, gone, first.full, first.changes_cursor

    def _site(self, api: ApiClient, site: str) -> SiteRead:
        """One site's servers: the changes since its last read applied to what it held, or a
        full listing (the sites are fetched side by side)."""
        held = self._sites.get(site)
        servers, gone, full, cursor = self._pages(api, site,
                                                  None if held is None else held.cursor)
        if full or held is None:
            now = {s.id: s for s in servers}
        else:
            now = dict(held.servers)
            now.update((s.id, s) for s in servers)
            for g in gone:
                now.pop(g.id, None)
        return SiteRead(now, full or held is None, len(servers) + len(gone), len(gone), cursor)

    def get(self, api: ApiClient, *, force: bool = False) -> list[Server]:
        """The servers, fetched now when missing, stale or ``force``d (worker threads
        only: this blocks on the network)."""
        with self._lock:
            fresh = time.monotonic() - self._at < self.max_age_s
            if self._servers is not None and fresh and not force:
                return self._servers
            started = time.perf_counter()
            self.loading = 0
            sites = [s.site for s in api.status().sites]
            with ThreadPoolExecutor(max_workers=max(1, len(sites)),
                                    thread_name_prefix="servers") as pool:
                reads = dict(zip(sites, pool.map(lambda site: self._site(api, site), sites),
                                 strict=True))
            unchanged = (self._servers is not None and list(reads) == list(self._sites)
                         and not any(r.full or r.received for r in reads.values()))
            self._sites = reads
            self.received = sum(r.received for r in reads.values())
            self.full_sites = sum(1 for r in reads.values() if r.full)
            if not unchanged or self._servers is None:
                out = [s for r in reads.values() for s in r.servers.values()]
                rows = self.prepare(out) if self.prepare is not None else None
                # published once the heap is settled: the full pass holds the interpreter
                # lock (~0.5 s at 60,000 servers on a loaded machine), and a list opened as
                # soon as the servers were published answered its first keys that much later
                settle_heap()
                self._servers = out
                self._prepared = (out, rows)
            self.version += 1
            self.fetch_seconds = time.perf_counter() - started
            self._at = time.monotonic()
            return self._servers
