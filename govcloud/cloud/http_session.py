"""A requests session that reads the environment once per host, not on every request.

requests, trusting the environment (``trust_env``, its default), looks on **every** request
for a ``.netrc`` (two ``stat`` calls), scans ``os.environ`` twice for proxies and ``no_proxy``
and reads ``REQUESTS_CA_BUNDLE``. A sync of 24 sites makes thousands of requests from
hundreds of threads, and each of those system calls hands the interpreter lock to the next
thread: at the cities scale this was a good part of a full sync (docs/city-clouds.md,
Performance). :class:`EnvOnceSession` keeps what it found per scheme and host for the
session's life — the same settings requests would find, as long as the process's environment
and ``.netrc`` do not change under it (they are read at start-up, as openstacksdk reads
clouds.yaml).
"""

from __future__ import annotations

import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from requests.sessions import merge_setting
from requests.utils import get_environ_proxies, get_netrc_auth


class _NoAuth(AuthBase):
    """Leaves a request as it is (the netrc lookup was made, and found nothing)."""

    def __call__(self, r: Any) -> Any:
        return r


_NONE = _NoAuth()


class EnvOnceSession(requests.Session):
    """``requests.Session`` with the environment's proxies, CA bundle and netrc credentials
    looked up once per scheme and host (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._env_lock = threading.Lock()
        self._proxies: dict[tuple[str, str, str | None], dict[str, str]] = {}
        self._netrc: dict[tuple[str, str], Any] = {}
        self._ca_bundle: str | None = None
        self._ca_read = False

    def _found(self, cache: dict[Any, Any], key: Any, look: Any) -> Any:
        if key in cache:
            return cache[key]
        value = look()  # outside the lock: a lookup is idempotent
        with self._env_lock:
            return cache.setdefault(key, value)

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.trust_env and not request.auth and not self.auth:
            url = str(request.url)
            parts = urlsplit(url)
            found = self._found(self._netrc, (parts.scheme, parts.netloc),
                                lambda: get_netrc_auth(url))
            request.auth = found or _NONE
        return super().prepare_request(request)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            parts = urlsplit(str(url))
            env = self._found(self._proxies, (parts.scheme, parts.netloc, no_proxy),
                              lambda: get_environ_proxies(str(url), no_proxy=no_proxy))
            if proxies is not None:
                for k, v in env.items():
                    proxies.setdefault(k, v)
            if verify is True or verify is None:
                verify = self._ca_from_env() or verify
        return {"proxies": merge_setting(proxies, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}

    def _ca_from_env(self) -> str | None:
        if not self._ca_read:
            self._ca_bundle = (os.environ.get("REQUESTS_CA_BUNDLE")
                               or os.environ.get("CURL_CA_BUNDLE") or None)
            self._ca_read = True
        return self._ca_bundle


def env_once(session: requests.Session) -> EnvOnceSession:
    """An :class:`EnvOnceSession` with ``session``'s settings (headers, adapters, cookies,
    verify, ...), to put in its place."""
    if isinstance(session, EnvOnceSession):
        return session
    new = EnvOnceSession()
    for attr in requests.Session.__attrs__:
        setattr(new, attr, getattr(session, attr))
    return new
