"""How the API client reaches one of several control-plane replicas, and rides out a database
failover (docs/high-availability.md, "Clients").

A server setting (``--server``, ``GOVCLOUD_SERVER``, a context) may name several replicas,
comma-separated. ``Failover.send`` tries the one in use; when it cannot be reached (the
connection was refused or timed out, so the request was never sent) it tries the next, and
tells ``on_switch`` which one it is on now. A request cut off after it was sent is tried on
another replica only when it reads (GET): a write may have been applied. An answer of
``DatabaseUnavailable`` (503: the database is failing over; the request's transaction did not
commit) is retried on the same replica ``retries`` times, waiting the server's Retry-After
(at most ``MAX_WAIT_S``) between tries; then it is raised, and the CLI exits 75.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from govcloud.errors import DatabaseUnavailable, InvalidInput, TemporaryError

RETRIES_ENV = "GOVCLOUD_RETRIES"
DEFAULT_RETRIES = 3
MAX_RETRIES = 20
MAX_SERVERS = 8
MAX_WAIT_S = 5.0
DEFAULT_WAIT_S = 1.0
API_PREFIX = "/api/v1"
_SAFE_METHODS = ("GET", "HEAD")

Switch = Callable[[str, str], Any]


def split_servers(text: str) -> list[str]:
    """The control-plane URLs in ``text`` (comma-separated), without trailing slashes."""
    servers = [s.strip().rstrip("/") for s in text.split(",") if s.strip()]
    if not servers:
        raise InvalidInput("no control-plane server given",
                           hint="e.g. --server http://127.0.0.1:8780 (several: comma-separated)")
    if len(servers) > MAX_SERVERS:
        raise InvalidInput(f"{len(servers)} control-plane servers given; at most {MAX_SERVERS}",
                           hint="name each replica once")
    return servers


def check_servers(servers: list[str]) -> list[str]:
    """``servers`` if each is an http(s) URL (what ``context add`` stores)."""
    for server in servers:
        if not server.startswith(("http://", "https://")) or len(server) > 255 or \
                any(c.isspace() or not c.isprintable() for c in server):
            raise InvalidInput(f"server {server[:100]!r} is not an http(s) URL",
                               hint="e.g. --server http://127.0.0.1:8780 (several: "
                                    "--server URL1,URL2)")
    return servers


def retries_from_env() -> int:
    value = os.environ.get(RETRIES_ENV, "")
    if not value:
        return DEFAULT_RETRIES
    try:
        count = int(value)
    except ValueError:
        raise InvalidInput(f"{RETRIES_ENV}={value[:20]!r} is not a whole number",
                           hint=f"e.g. {RETRIES_ENV}=3 (0: never retry)") from None
    return max(0, min(MAX_RETRIES, count))


def _wait_s(response: httpx.Response) -> float:
    try:
        return max(0.0, min(MAX_WAIT_S, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return DEFAULT_WAIT_S


def _database_unavailable(response: httpx.Response) -> bool:
    if response.status_code != 503:
        return False
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("type") == DatabaseUnavailable.__name__


class Failover:
    """Sends requests to the replica in use, moving to the next when it cannot be reached."""

    def __init__(self, http: httpx.Client, servers: list[str], *, retries: int | None = None,
                 on_switch: Switch | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = http
        self.servers = servers
        self.current = 0
        self.retries = retries_from_env() if retries is None else retries
        self.on_switch = on_switch
        self.sleep = sleep

    @property
    def server(self) -> str:
        return self.servers[self.current]

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method path`` on a replica that answers; ``DatabaseUnavailable`` answers retried
        (the caller turns the final answer into an error)."""
        for attempt in range(self.retries + 1):
            response = self._any_replica(method, path, **kwargs)
            if not _database_unavailable(response) or attempt == self.retries:
                return response
            self.sleep(_wait_s(response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _any_replica(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        failures: list[str] = []
        start = self.current
        for step in range(len(self.servers)):
            index = (start + step) % len(self.servers)
            server = self.servers[index]
            try:
                response = self.http.request(method, server + API_PREFIX + path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failures.append(f"{server}: {exc}")
                continue
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if method.upper() not in _SAFE_METHODS:
                    raise TemporaryError(
                        f"the control plane at {server} went away while answering: {exc}",
                        hint="the request may or may not have been applied: look (e.g. "
                             "`govcloud request show`), then retry") from None
                failures.append(f"{server}: {exc}")
                continue
            except httpx.TimeoutException:
                raise TemporaryError(f"the control plane at {server} did not answer in time",
                                     hint="try again; the server log may say why") from None
            except httpx.HTTPError as exc:
                raise TemporaryError(f"request to {server} failed: {exc}",
                                     hint="check the server URL and the network") from None
            if index != self.current:
                previous, self.current = self.server, index
                if self.on_switch is not None:
                    self.on_switch(previous, server)
            return response
        names = ", ".join(self.servers)
        detail = failures[0].split(": ", 1)[1] if len(failures) == 1 else "; ".join(failures)
        raise TemporaryError(
            f"cannot reach the control plane at {names}: {detail}"[:1000],
            hint="start it with `govcloud serve` (or `govcloud demo`), or check the "
                 "server URL (--server, GOVCLOUD_SERVER or `govcloud context list`)")
