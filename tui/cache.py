"""Every server the principal may see, fetched once in the background (pages of 1,000 from
``GET /servers``, the sites side by side) and shared by the views that list servers;
re-fetched when older than ``max_age_s``. With ``prepare``, the fetching thread also builds
what the list shows (``rows``: the table's rows, sorted), so opening the list does no work
per row. Thread-safe: the app's prefetch and a view asking at the same time make one fetch
between them."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from govcloud.api.models import Server
from govcloud.client import ApiClient

PAGE = 1000


def settle_heap() -> None:
    """Keep the servers and rows that live until the next fetch out of the garbage
    collector's full passes (each would otherwise stall a keystroke at 30,000 servers), without
    keeping what the last fetch froze forever: unfreeze it first, so the collection reclaims
    the cycles of the servers and rows just replaced, then freeze what is alive now. An object
    that stays frozen is still freed by reference counting; only cycles need the collector."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ServerCache:
    def __init__(self, *, max_age_s: float = 60.0,
                 prepare: Callable[[list[Server]], Any] | None = None) -> None:
        self.max_age_s = max_age_s
        self.prepare = prepare
        self._prepared: tuple[list[Server], Any] | None = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._servers: list[Server] | None = None
        self._at = 0.0
        self.loading = 0          # servers read so far by a fetch in progress
        self.version = 0          # bumped by every completed fetch
        self.fetch_seconds: float | None = None

    @property
    def ready(self) -> bool:
        return self._servers is not None

    def peek(self) -> list[Server] | None:
        return self._servers

    def prepared(self, servers: list[Server]) -> Any:
        """What ``prepare`` made of ``servers`` (None: not these servers, or no prepare)."""
        held = self._prepared
        return held[1] if held is not None and held[0] is servers else None

    def _site(self, api: ApiClient, site: str) -> list[Server]:
        """One site's servers, page by page (the sites are fetched side by side)."""
        out: list[Server] = []
        cursor = None
        while True:
            page = api.servers(site=site, limit=PAGE, cursor=cursor)
            out += page.servers
            with self._count_lock:
                self.loading += len(page.servers)
            cursor = page.next_cursor
            if cursor is None:
                return out

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
                per_site = list(pool.map(lambda site: self._site(api, site), sites))
            out = [s for servers in per_site for s in servers]
            rows = self.prepare(out) if self.prepare is not None else None
            self.fetch_seconds = time.perf_counter() - started
            self._servers = out
            self._prepared = (out, rows)
            settle_heap()
            self._at = time.monotonic()
            self.version += 1
            return out
