"""Notifications to the departments (docs/notifications.md): the producers' side and the use
cases behind ``/notifications``.

A state change that a department should hear about calls :func:`enqueue` with its own
connection, inside its own transaction: the messages (one per contact's address and per
webhook) are written to the outbox together with the change, or not at all. A caller without
a transaction calls :func:`notify`. Neither raises for a notification's sake: a department
the catalogue does not know, an address that cannot be used, a rendering problem is logged
and the operation goes on. Nothing is sent here: the notifier worker delivers the outbox
(``services.notify_delivery``, ``workers.notifier``), retrying with backoff.

RBAC: listing needs ``notification.view`` (scoped: a department's viewer sees its own
department's messages); retrying one needs ``notification.retry`` (operators, the bureau) and
is audited. Webhook URLs are shown without their path (it may hold the receiver's token).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.notifications import (
    LANGUAGES,
    Channel,
    DeliveryState,
    Event,
    EventKind,
    Language,
    names_of,
    one_line,
    payload,
    recipients,
)
from govcloud.domain.notify_delivery import (
    RetryPolicy,
    WebhookRoutes,
    routes_from_config,
    shown_url,
)
from govcloud.domain.rbac import Action, Principal
from govcloud.errors import ConflictError, InvalidInput, NotFound
from govcloud.services.access import check_department, scope_of
from govcloud.settings import Settings
from govcloud.store import notifications_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.engine import write_begin
from govcloud.store.notifications_repo import StoredMessage
from govcloud.store.tables import utcnow
from govcloud.yamlfile import load, read_text

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """What the notifications are configured with: e-mail on or off (an SMTP host), the
    webhooks, the languages and time zone of the messages, and the retry policy."""

    email: bool = False
    webhooks: WebhookRoutes = field(default_factory=WebhookRoutes)
    languages: tuple[Language, ...] = LANGUAGES
    zone: dt.tzinfo = dt.UTC
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def enabled(self) -> bool:
        return self.email or bool(self.webhooks)


def _webhooks_file(path: Path) -> dict[str, Any]:
    text = read_text(path, what="webhooks file", max_bytes=256 * 1024,
                     hint="check notify_webhooks_file")
    data = load(text, what=f"webhooks file {path}", hint=f"fix the YAML in {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"webhooks file {path} must hold a mapping",
                           hint="global: URLS and departments: {code: URLS} "
                                "(docs/notifications.md)")
    return data


def config_from_settings(settings: Settings) -> NotifyConfig:
    """The notifications' configuration of ``settings``; the webhooks of
    ``notify_webhooks`` and of ``notify_webhooks_file`` together, each URL checked and
    signed (InvalidInput naming what is wrong)."""
    secret = settings.notify_webhook_secret
    shown = None if secret is None else secret.get_secret_value()
    from_settings = routes_from_config(settings.notify_webhooks, secret=shown)
    routes = from_settings
    if settings.notify_webhooks_file is not None:
        path = settings.notify_webhooks_file
        from_file = routes_from_config(_webhooks_file(path), secret=shown, where=str(path))
        routes = WebhookRoutes(
            everyone=tuple(dict.fromkeys((*from_settings.everyone, *from_file.everyone))),
            departments={code: tuple(dict.fromkeys((*from_settings.departments.get(code, ()),
                                                    *from_file.departments.get(code, ()))))
                         for code in {*from_settings.departments, *from_file.departments}},
            secrets={**from_settings.secrets, **from_file.secrets}, secret=from_settings.secret)
    delays = tuple(dt.timedelta(seconds=s) for s in settings.notify_backoff_s)
    return NotifyConfig(
        email=settings.notify_smtp_host is not None, webhooks=routes,
        languages=tuple(dict.fromkeys(settings.notify_languages)),
        zone=dt.timezone(dt.timedelta(hours=settings.notify_utc_offset_hours)),
        policy=RetryPolicy(delays=delays,
                           cap=max(dt.timedelta(seconds=settings.notify_backoff_max_s),
                                   delays[0]),
                           max_attempts=settings.notify_max_attempts))


class Notifier:
    """The producers' side of the outbox, built once by the plane: ``enqueue`` in the
    caller's transaction, ``notify`` in one of its own."""

    def __init__(self, *, engine: Engine, config: NotifyConfig,
                 catalogue: Callable[[], Catalogue | None], clock: Clock = utcnow) -> None:
        self.engine = engine
        self.config = config
        self.catalogue = catalogue
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def messages(self, event: Event) -> list[dict[str, Any]]:
        """The outbox rows of ``event``: one per contact's address (when e-mail is on) and
        per webhook of the department; none when nothing is configured."""
        if not self.enabled:
            return []
        catalogue = self.catalogue()
        department = catalogue.find(event.department) if catalogue is not None else None
        contacts = [c.email for c in department.contacts] if department is not None else []
        who = recipients(contacts, self.config.webhooks.for_department(event.department),
                         email=self.config.email)
        if who.skipped:
            log.warning("notification %s of %s: contact addresses left out (not usable): %s",
                        event.kind.value, event.department, ", ".join(who.skipped))
        if not who.emails and not who.webhooks:
            return []
        body = json.dumps(payload(event, names_of(department, event.department),
                                  languages=self.config.languages, zone=self.config.zone),
                          ensure_ascii=False, sort_keys=True)
        return [{"event": event.kind.value, "ref": one_line(event.ref, 200),
                 "department": event.department, "channel": channel.value,
                 "recipient": address, "payload": body} for channel, address in who.pairs()]

    def enqueue(self, conn: Connection, event: Event) -> int:
        """Add ``event``'s messages on ``conn`` (committed with the caller's transaction);
        how many. A problem making them is logged, never raised."""
        try:
            rows = self.messages(event)
        except Exception:  # a notification never stops the operation it tells about
            log.exception("notification %s of %s not queued", event.kind.value,
                          event.department)
            return 0
        return repo.add(conn, rows, at=self.clock()) if rows else 0

    def notify(self, event: Event) -> int:
        """Add ``event``'s messages in a transaction of their own; never raises."""
        try:
            rows = self.messages(event)
            if not rows:
                return 0
            with write_begin(self.engine) as conn:
                return repo.add(conn, rows, at=self.clock())
        except Exception:  # a notification never stops the operation it tells about
            log.exception("notification %s of %s not queued", event.kind.value,
                          event.department)
            return 0


def build_notifier(*, engine: Engine, settings: Settings,
                   catalogue: Callable[[], Catalogue | None], clock: Clock = utcnow
                   ) -> Notifier:
    """The plane's notifier. A webhook filed under a department the catalogue does not list
    (now) is logged: it will be used once the catalogue lists the department."""
    config = config_from_settings(settings)
    known = None
    if config.webhooks.departments:  # (loading the catalogue costs seconds: only for this)
        try:
            known = catalogue()
        except Exception:  # noqa: BLE001 - the catalogue's problems are reported where used
            known = None
    unknown = sorted(set(config.webhooks.departments) - set(known.codes)) if known else []
    if unknown:
        log.warning("webhooks configured for departments the catalogue does not list: %s",
                    ", ".join(one_line(code, 64) for code in unknown))
    return Notifier(engine=engine, config=config, catalogue=catalogue, clock=clock)


def enqueue(notifier: Notifier | None, conn: Connection, event: Event) -> int:
    """``notifier.enqueue(conn, event)``; nothing when there is no notifier (a context made
    without one, in tests and tools)."""
    return 0 if notifier is None else notifier.enqueue(conn, event)


def tell(notifier: Notifier | None, conn: Connection, kind: EventKind, department: str,
         ref: object, at: dt.datetime, **fields: Any) -> int:
    """``enqueue`` of the event made of these values (``Event``'s fields: actor, system,
    site, detail, window): what producers call. Nothing is made when nobody would be told,
    and an event that cannot be made (a value ``Event`` refuses) is logged, never raised."""
    if notifier is None or not notifier.enabled:
        return 0
    try:
        event = Event(kind, department, str(ref), at, **fields)
    except Exception:  # a notification never stops the operation it tells about
        log.exception("notification %s of %s not queued", kind, one_line(department, 64))
        return 0
    return notifier.enqueue(conn, event)


def notify(notifier: Notifier | None, event: Event) -> int:
    """``notifier.notify(event)`` for a caller without a transaction; never raises."""
    return 0 if notifier is None else notifier.notify(event)


_CHANGE_KINDS = {"scheduled": EventKind.CHANGE_SCHEDULED, "started": EventKind.CHANGE_STARTED,
                 "done": EventKind.CHANGE_DONE, "failed": EventKind.CHANGE_FAILED}


def enqueue_change(notifier: Notifier | None, conn: Connection, what: str, *, change: int | str,
                   departments: Iterable[str], at: dt.datetime, actor: str | None = None,
                   window: tuple[dt.datetime, dt.datetime] | None = None,
                   detail: str | None = None) -> int:
    """Tell every department a change affects that it is ``what`` (scheduled, started, done
    or failed), in the caller's transaction: one event per department. For the change
    requests' service (issue 21)."""
    kind = _CHANGE_KINDS.get(what)
    if kind is None:
        raise InvalidInput(f"a change is not {one_line(what, 40)!r}",
                           hint="one of: " + ", ".join(_CHANGE_KINDS))
    return sum(tell(notifier, conn, kind, code, change, at, actor=actor, window=window,
                    detail=detail) for code in dict.fromkeys(departments))


def enqueue_host_drain(notifier: Notifier | None, conn: Connection, *, done: bool, site: str,
                       host: str, departments: Iterable[str], at: dt.datetime,
                       actor: str | None = None, detail: str | None = None) -> int:
    """Tell the departments with servers on ``host`` that it is being drained (or is
    drained, ``done``), in the caller's transaction."""
    kind = EventKind.HOST_DRAIN_DONE if done else EventKind.HOST_DRAIN_STARTED
    return sum(tell(notifier, conn, kind, code, host, at, actor=actor, site=site,
                    detail=detail) for code in dict.fromkeys(departments))


# --- the use cases behind /notifications ----------------------------------------------------

def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def message_json(m: StoredMessage) -> dict[str, Any]:
    """A message as the API shows it (a webhook's URL without its path)."""
    try:
        subject = str(json.loads(m.payload).get("subject", ""))
    except (ValueError, AttributeError):
        subject = ""
    return {"id": m.id, "event": m.event, "ref": m.ref, "department": m.department,
            "channel": m.channel,
            "recipient": shown_url(m.recipient) if m.channel == Channel.WEBHOOK.value
            else m.recipient,
            "subject": subject, "state": m.state, "attempts": m.attempts,
            "next_attempt_at": _time(m.next_attempt_at) if m.state == "pending" else None,
            "last_error": m.last_error, "created_at": _time(m.created_at),
            "sent_at": _time(m.sent_at)}


def _state(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return DeliveryState(value).value
    except ValueError:
        raise InvalidInput(f"unknown state {one_line(value, 40)!r}",
                           hint="states: " + ", ".join(s.value for s in DeliveryState)) \
            from None


def list_messages(engine: Engine, principal: Principal, catalogue: Catalogue, *,
                  state: str | None = None, department: str | None = None, limit: int = 100,
                  before: int | None = None) -> dict[str, Any]:
    """The messages the principal may see, newest first, with the counts per state."""
    codes = scope_of(principal, catalogue, Action.NOTIFICATION_VIEW, department=department)
    wanted = _state(state)
    with engine.connect() as conn:
        rows = repo.listing(conn, departments=codes, state=wanted, limit=limit, before=before)
        counts = repo.counts(conn, departments=codes)
    return {"notifications": [message_json(m) for m in rows],
            "counts": {s.value: counts.get(s.value, 0) for s in DeliveryState},
            "next_before": rows[-1].id if len(rows) == limit else None}


def _no_message(message_id: int) -> NotFound:
    return NotFound(f"no notification {message_id}",
                    hint="`govcloud notifications list` shows the ones you may see")


def retry(engine: Engine, principal: Principal, catalogue: Catalogue, message_id: int, *,
          clock: Clock = utcnow) -> dict[str, Any]:
    """Make a pending or dead message due now, its attempts counted from zero (audited
    ``notification.retry``); a sent one is a conflict."""
    with write_session(engine) as session:
        conn = session.connection()
        found = repo.find(conn, message_id)
        if found is None:
            raise _no_message(message_id)
        check_department(principal, catalogue, found.department, Action.NOTIFICATION_RETRY,
                         lambda: _no_message(message_id))
        if found.state == DeliveryState.SENT.value:
            raise ConflictError(f"notification {message_id} was sent already",
                                hint="a sent message is not sent again")
        now = clock()
        again = repo.requeue(conn, message_id, at=now)
        assert again is not None  # found above, in this transaction
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="notification.retry",
            target=f"department:{found.department}",
            before={"notification": message_id, "state": found.state,
                    "attempts": found.attempts},
            after={"notification": message_id, "state": again.state, "event": found.event})
        session.commit()
    return message_json(again)

