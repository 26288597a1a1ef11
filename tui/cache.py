"""Every server the principal may see, fetched once in the background (pages of 1,000 from
``GET /servers``) and shared by the views that list servers; re-fetched when older than
``max_age_s``. Thread-safe: the app's prefetch and a view asking at the same time make one
fetch between them."""

from __future__ import annotations

import threading
import time
from typing import Any

from govcloud.client import ApiClient

PAGE = 1000


class ServerCache:
    def __init__(self, *, max_age_s: float = 60.0) -> None:
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._servers: list[dict[str, Any]] | None = None
        self._at = 0.0
        self.loading = 0          # servers read so far by a fetch in progress
        self.version = 0          # bumped by every completed fetch
        self.fetch_seconds: float | None = None

    @property
    def ready(self) -> bool:
        return self._servers is not None

    def peek(self) -> list[dict[str, Any]] | None:
        return self._servers

    def get(self, api: ApiClient, *, force: bool = False) -> list[dict[str, Any]]:
        """The servers, fetched now when missing, stale or ``force``d (worker threads
        only: this blocks on the network)."""
        with self._lock:
            fresh = time.monotonic() - self._at < self.max_age_s
            if self._servers is not None and fresh and not force:
                return self._servers
            started = time.perf_counter()
            out: list[dict[str, Any]] = []
            cursor = None
            self.loading = 0
            while True:
                page = api.get("/servers", limit=PAGE, cursor=cursor)
                out += page["servers"]
                self.loading = len(out)
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            self._servers = out
            self._at = time.monotonic()
            self.version += 1
            self.fetch_seconds = time.perf_counter() - started
            return out
