"""The notifier: delivers the notifications' outbox (docs/notifications.md) every
``notify_poll_s`` (default 15 s), or at once when woken (a retry asked through the API).

E-mail goes through the SMTP server of the settings (``notify_smtp_*``: STARTTLS with the
server's certificate checked, then a login, when configured), one message per recipient, in
the languages configured. A webhook is an HTTP POST of the message's JSON, signed with
HMAC-SHA256 (``X-Govcloud-Signature: sha256=<hex>`` over ``<X-Govcloud-Timestamp>.<body>``,
``govcloud.domain.notify_delivery``); any answer but a 2xx is a failure (redirects are not
followed). A failure is retried with backoff (``services.notify_delivery``); nothing here
raises into whoever caused the message, and a round's error never ends the loop.

Started by ``govcloud serve`` with the other workers when SMTP or a webhook is configured
(``notify_worker`` forces it on or off).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

import httpx

from govcloud.domain.notifications import Channel, one_line
from govcloud.domain.notify_delivery import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRoutes,
    shown_url,
    sign,
)
from govcloud.errors import PermanentError, TemporaryError
from govcloud.services.notifications import Notifier
from govcloud.services.notify_delivery import Outgoing, Round, Sender, deliver_due
from govcloud.services.plane import Plane
from govcloud.settings import Settings

log = logging.getLogger(__name__)
MAX_SUBJECT = 400  # both languages' subjects together


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout_s: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        if settings.notify_smtp_host is None or settings.notify_smtp_from is None:
            return None
        password = settings.notify_smtp_password
        return cls(settings.notify_smtp_host, settings.notify_smtp_port,
                   settings.notify_smtp_from, settings.notify_smtp_starttls,
                   settings.notify_smtp_user,
                   None if password is None else password.get_secret_value(),
                   settings.notify_smtp_timeout_s)


def email_message(out: Outgoing, *, sender: str) -> EmailMessage:
    """The mail of ``out``: one recipient, the subject made one line again (whatever the
    stored payload holds, no CR/LF reaches a header), plain UTF-8 text."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = out.recipient
    msg["Subject"] = one_line(out.subject, MAX_SUBJECT)
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid("govcloud-notify")
    msg["Auto-Submitted"] = "auto-generated"
    msg[EVENT_HEADER] = one_line(out.event, 32)
    msg[DELIVERY_HEADER] = str(out.id)
    msg.set_content(out.body, charset="utf-8")
    return msg


class SmtpSender:
    """Sends one message per call through the configured SMTP server."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def __call__(self, out: Outgoing) -> None:
        c = self.config
        msg = email_message(out, sender=c.sender)
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                smtp.ehlo()
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if c.user is not None:
                    smtp.login(c.user, c.password or "")
                refused = smtp.send_message(msg, from_addr=c.sender, to_addrs=[out.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            raise TemporaryError(f"the SMTP server refused {out.recipient}: "
                                 f"{_smtp_reason(exc.recipients)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryError(f"SMTP {c.host}:{c.port}: {type(exc).__name__}: {exc}") \
                from None
        if refused:
            raise TemporaryError(f"the SMTP server refused {out.recipient}: "
                                 f"{_smtp_reason(refused)}")


def _smtp_reason(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{code} {reply.decode('utf-8', 'replace')}"
                     for code, reply in refused.values())


class WebhookSender:
    """POSTs one message per call to its webhook, signed with the URL's secret."""

    def __init__(self, routes: WebhookRoutes, *, timeout_s: float = 10.0,
                 now: Callable[[], float] = time.time) -> None:
        self.routes = routes
        self.timeout_s = timeout_s
        self.now = now

    @staticmethod
    def body(out: Outgoing) -> bytes:
        """The JSON body: the delivery id and the payload (the event, the department, the
        message in every language)."""
        return json.dumps({"delivery": out.id, **out.payload}, ensure_ascii=False,
                          sort_keys=True, separators=(",", ":")).encode("utf-8")

    def __call__(self, out: Outgoing) -> None:
        url = out.recipient
        shown = shown_url(url)
        secret = self.routes.secret_for(url)
        if secret is None:
            raise PermanentError(f"{shown}: no secret to sign with (the webhook is no longer "
                                 "configured)")
        body = self.body(out)
        stamp = str(int(self.now()))
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "govcloud-notifier", TIMESTAMP_HEADER: stamp,
                   SIGNATURE_HEADER: sign(secret, stamp, body),
                   DELIVERY_HEADER: str(out.id), EVENT_HEADER: out.event}
        try:
            answer = httpx.post(url, content=body, headers=headers, timeout=self.timeout_s,
                                follow_redirects=False)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"{shown}: {type(exc).__name__}: "
                                 f"{str(exc).replace(url, shown)}") from None
        if not 200 <= answer.status_code < 300:
            raise TemporaryError(f"{shown} answered HTTP {answer.status_code}: "
                                 f"{one_line(answer.text, 200)}")


def senders_for(settings: Settings, routes: WebhookRoutes) -> dict[Channel, Sender]:
    """The senders of the configured channels."""
    out: dict[Channel, Sender] = {}
    smtp = SmtpConfig.from_settings(settings)
    if smtp is not None:
        out[Channel.EMAIL] = SmtpSender(smtp)
    if routes:
        out[Channel.WEBHOOK] = WebhookSender(routes, timeout_s=settings.notify_webhook_timeout_s)
    return out


class NotifierWorker:
    """Runs ``round_`` now, then every ``interval_s`` or when woken, until stopped."""

    def __init__(self, round_: Callable[[], Round], *, interval_s: float,
                 name: str = "govcloud-notify") -> None:
        self.round = round_
        self.interval_s = interval_s
        self.name = name
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                done = self.round()
                if done.handled:
                    log.info("notifier: %d sent, %d to retry, %d given up", len(done.sent),
                             len(done.failed), len(done.dead))
            except Exception:  # the loop outlives any one failure (the database, say)
                log.exception("%s: round failed", self.name)
            with self._done:
                self.runs += 1
                self._done.notify_all()
            self._wake.wait(self.interval_s)

    def start(self) -> NotifierWorker:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def wait_for_runs(self, count: int, timeout: float) -> bool:
        with self._done:
            return self._done.wait_for(lambda: self.runs >= count, timeout=timeout)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def notifier_round(notifier: Notifier, senders: dict[Channel, Sender], settings: Settings
                   ) -> Callable[[], Round]:
    timeout = max(settings.notify_smtp_timeout_s, settings.notify_webhook_timeout_s)
    lease = dt.timedelta(seconds=60 + settings.notify_batch * (timeout + 5))
    return lambda: deliver_due(notifier, senders, limit=settings.notify_batch, lease=lease)


def start_notifier_worker(plane: Plane) -> Callable[[], None]:
    """Start the notifier of ``plane`` when notifications are configured (or
    ``notify_worker`` is true); returns the function that stops it."""
    settings, notifier = plane.settings, plane.notifier
    wanted = settings.notify_worker
    if not (notifier.enabled if wanted is None else wanted):
        return lambda: None
    worker = NotifierWorker(notifier_round(notifier, senders_for(
        settings, notifier.config.webhooks), settings), interval_s=settings.notify_poll_s)
    plane.notifier_worker = worker.start()

    def stop() -> None:
        worker.stop(timeout=max(30.0, settings.notify_smtp_timeout_s + 5))

    return stop
