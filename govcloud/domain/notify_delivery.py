"""Delivering notifications (docs/notifications.md): when a failed message is tried again
(:class:`RetryPolicy`), how a webhook is signed and checked (:func:`sign`, :func:`verify`),
which URLs may receive one (:func:`check_webhook_url`) and which receive a department's
(:class:`WebhookRoutes`, from the settings or a YAML file).

The signature: ``X-Govcloud-Signature: sha256=<hex>``, the HMAC-SHA256 with the receiver's
secret of ``<timestamp>.<body>`` — the ``X-Govcloud-Timestamp`` header (Unix seconds), a dot,
then the body's bytes exactly as sent. A receiver recomputes it, compares in constant time and
refuses a timestamp more than ``TOLERANCE_S`` from its own clock, so a captured request cannot
be replayed later; ``X-Govcloud-Delivery`` (the message's id) lets it drop a repeat of a
delivery it already took (a message may arrive twice: delivery is at least once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from govcloud.domain.notifications import DeliveryState
from govcloud.domain.text import CONTROL, printable
from govcloud.errors import InvalidInput

SIGNATURE_HEADER = "X-Govcloud-Signature"
TIMESTAMP_HEADER = "X-Govcloud-Timestamp"
DELIVERY_HEADER = "X-Govcloud-Delivery"
EVENT_HEADER = "X-Govcloud-Event"
TOLERANCE_S = 300
MAX_URL = 2048
MIN_SECRET = 16
MAX_ERROR = 500


# --- retries --------------------------------------------------------------------------------

def _minutes(*values: int) -> tuple[dt.timedelta, ...]:
    return tuple(dt.timedelta(minutes=v) for v in values)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """After the n-th failed attempt a message waits ``delays[n-1]`` (past the list, the
    last one doubled each time), never longer than ``cap``; after ``max_attempts`` failed
    attempts it is given up (``dead``)."""

    delays: tuple[dt.timedelta, ...] = _minutes(1, 5, 15, 60)
    cap: dt.timedelta = dt.timedelta(hours=6)
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if not self.delays or any(d <= dt.timedelta(0) for d in self.delays):
            raise InvalidInput("retry delays must be a non-empty list of positive durations",
                               hint="e.g. notify_backoff_s: [60, 300, 900, 3600]")
        if self.cap <= dt.timedelta(0) or not 1 <= self.max_attempts <= 100:
            raise InvalidInput("the retry cap must be positive and the attempts 1 to 100",
                               hint="see docs/notifications.md, Retries")

    def delay(self, attempts: int) -> dt.timedelta:
        """The wait after the ``attempts``-th failed attempt (1 is the first)."""
        n = max(1, attempts)
        if n <= len(self.delays):
            wait = self.delays[n - 1]
        else:
            wait = self.delays[-1]
            for _ in range(n - len(self.delays)):
                wait *= 2
                if wait >= self.cap:  # stop before the number outgrows timedelta
                    break
        return min(wait, self.cap)

    def after_failure(self, attempts: int, now: dt.datetime
                      ) -> tuple[DeliveryState, dt.datetime | None]:
        """The message's state after its ``attempts``-th attempt failed, and when it is
        tried next (None: never, it is dead)."""
        if attempts >= self.max_attempts:
            return DeliveryState.DEAD, None
        return DeliveryState.PENDING, now + self.delay(attempts)

    def schedule(self) -> list[dt.timedelta]:
        """Every wait a message that keeps failing goes through, in order."""
        return [self.delay(n) for n in range(1, self.max_attempts)]


def error_text(value: object) -> str:
    """A delivery error as stored: one line, printable, at most ``MAX_ERROR`` characters."""
    text = " ".join(printable(value).split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


# --- signatures -----------------------------------------------------------------------------

def signed_text(timestamp: str, body: bytes) -> bytes:
    """What is signed: the timestamp header's value, a dot, the body as sent."""
    return timestamp.encode("ascii") + b"." + body


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Govcloud-Signature`` header's value: ``sha256=<hex>``."""
    digest = hmac.new(secret, signed_text(timestamp, body), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: float,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """True when ``signature`` signs ``timestamp`` and ``body`` with ``secret`` and the
    timestamp is within ``tolerance_s`` of ``now`` (Unix seconds): what a receiver checks."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- where webhooks go ----------------------------------------------------------------------

def check_webhook_url(url: object, where: str) -> str:
    """``url`` when it is an absolute http or https URL with a host, no credentials and no
    control characters or spaces (at most ``MAX_URL`` characters); else InvalidInput."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"{where}: a webhook must be a URL, not {printable(url)[:80]!r}",
                           hint="e.g. https://hooks.example.gov.cn/govcloud")
    text = url.strip()
    hint = "an absolute http:// or https:// URL, e.g. https://hooks.example.gov.cn/govcloud"
    if len(text) > MAX_URL or CONTROL.search(text) or any(c.isspace() for c in text):
        raise InvalidInput(f"{where}: the webhook URL {printable(text)[:80]!r} is over "
                           f"{MAX_URL} characters or holds spaces or control characters",
                           hint=hint)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise InvalidInput(f"{where}: {printable(text)[:80]!r} is not a URL ({exc})",
                           hint=hint) from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"{where}: webhooks are http or https only, not "
                           f"{printable(parts.scheme or '(none)')[:20]!r}", hint=hint)
    if not parts.hostname:
        raise InvalidInput(f"{where}: the webhook URL {printable(text)[:80]!r} has no host",
                           hint=hint)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"{where}: a webhook URL must not carry a user or password",
                           hint="the receiver checks the signature instead (docs/"
                                "notifications.md); give the secret as a secret")
    return text


def shown_url(url: str) -> str:
    """A webhook URL as listings show it: scheme, host and port, the path left out (it may
    hold the receiver's token)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if parts.path.strip("/") or parts.query \
        else f"{parts.scheme}://{host}{port}/"


def check_secret(value: str, where: str) -> bytes:
    if len(value) < MIN_SECRET or CONTROL.search(value):
        raise InvalidInput(f"{where}: a webhook secret must be at least {MIN_SECRET} "
                           "characters, without control characters",
                           hint="make one with: python3 -c 'import secrets; "
                                "print(secrets.token_hex(32))'")
    return value.encode("utf-8")


@dataclass(frozen=True, slots=True)
class WebhookRoutes:
    """The webhooks every department's events go to (``everyone``) and those of one
    department; each URL's own secret, else ``secret``."""

    everyone: tuple[str, ...] = ()
    departments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    secrets: Mapping[str, bytes] = field(default_factory=dict)
    secret: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.everyone) or any(self.departments.values())

    def for_department(self, code: str) -> tuple[str, ...]:
        """The department's own webhooks, then the global ones (each once)."""
        return tuple(dict.fromkeys((*self.departments.get(code, ()), *self.everyone)))

    def secret_for(self, url: str) -> bytes | None:
        return self.secrets.get(url, self.secret)

    def urls(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            (*self.everyone, *(u for urls in self.departments.values() for u in urls))))


def _entries(value: Any, where: str) -> list[tuple[str, bytes | None]]:
    """A URL, a ``{url, secret}`` mapping, or a list of either."""
    items = value if isinstance(value, list) else [value]
    out: list[tuple[str, bytes | None]] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if isinstance(item, Mapping):
            unknown = set(item) - {"url", "secret"}
            if unknown:
                raise InvalidInput(f"{here}: unknown keys {sorted(map(str, unknown))}",
                                   hint="a webhook is a URL, or {url: ..., secret: ...}")
            secret = item.get("secret")
            out.append((check_webhook_url(item.get("url"), here),
                        None if secret is None else check_secret(str(secret), here)))
        else:
            out.append((check_webhook_url(item, here), None))
    return out


def routes_from_config(config: Mapping[str, Any] | None, *, secret: str | None = None,
                       where: str = "notify_webhooks",
                       known: Sequence[str] | None = None,
                       require_secrets: bool = True) -> WebhookRoutes:
    """The routes of a ``{global: URLS, departments: {code: URLS}}`` mapping (URLS: a URL,
    ``{url, secret}``, or a list of them); every URL checked, and each needs a secret, its
    own or ``secret`` (unless not ``require_secrets``: the settings' own check, before the
    secret is known). ``known``: the department codes a route may name (None: any)."""
    if not config:
        return WebhookRoutes(secret=None if secret is None else check_secret(secret, where))
    unknown = set(config) - {"global", "departments"}
    if unknown:
        raise InvalidInput(f"{where}: unknown keys {sorted(map(str, unknown))}",
                           hint="use global: and departments: (docs/notifications.md)")
    default = None if secret is None else check_secret(secret, f"{where} secret")
    secrets: dict[str, bytes] = {}

    def take(value: Any, here: str) -> tuple[str, ...]:
        urls = []
        for url, own in _entries(value, here):
            if own is not None:
                secrets[url] = own
            elif require_secrets and default is None and url not in secrets:
                raise InvalidInput(f"{here}: the webhook {shown_url(url)} has no secret",
                                   hint="set notify_webhook_secret, or give this URL its own "
                                        "secret ({url: ..., secret: ...})")
            urls.append(url)
        return tuple(urls)

    everyone = take(config["global"], f"{where}.global") if config.get("global") else ()
    departments: dict[str, tuple[str, ...]] = {}
    per = config.get("departments") or {}
    if not isinstance(per, Mapping):
        raise InvalidInput(f"{where}.departments must map department codes to webhooks",
                           hint="departments: {gd-psd: https://...}")
    for code, value in per.items():
        if known is not None and code not in known:
            raise InvalidInput(f"{where}.departments: no department {printable(code)[:64]!r} "
                               "in the catalogue", hint="use the catalogue's codes")
        departments[str(code)] = take(value, f"{where}.departments.{printable(code)[:64]}")
    return WebhookRoutes(everyone, departments, secrets, default)
