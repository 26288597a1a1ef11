"""Delivering the outbox (docs/notifications.md, "Retries"): one round takes the messages due
(a lease, so that two workers never send one at once), hands each to the sender of its
channel, and records the outcome in a transaction of its own: sent, or failed and tried again
after the retry policy's wait, or given up (``dead``, audited ``notification.dead``) after its
last attempt. A sender reports a failure by raising; nothing a sender raises leaves the round.
The senders themselves (SMTP, HTTP) are the notifier worker's (``workers.notifier``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from govcloud.domain.notifications import Channel, DeliveryState
from govcloud.domain.notify_delivery import RetryPolicy, error_text
from govcloud.errors import GovCloudError
from govcloud.services.notifications import Notifier
from govcloud.store import notifications_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.engine import write_begin
from govcloud.store.notifications_repo import StoredMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a sender gets: the message's id (the webhook's delivery id), channel, recipient
    (an address or a URL), its rendered subject and body, the whole payload, and which
    attempt this is (1 is the first)."""

    id: int
    event: str
    department: str
    channel: Channel
    recipient: str
    subject: str
    body: str
    payload: Mapping[str, Any]
    attempt: int


Sender = Callable[[Outgoing], None]


@dataclass
class Round:
    """What one round did: the ids sent, failed (to be tried again) and given up."""

    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.dead)


def _outgoing(m: StoredMessage) -> Outgoing:
    doc = json.loads(m.payload)
    return Outgoing(id=m.id, event=m.event, department=m.department,
                    channel=Channel(m.channel), recipient=m.recipient,
                    subject=str(doc.get("subject", "")), body=str(doc.get("body", "")),
                    payload=doc, attempt=m.attempts + 1)


def _send(message: StoredMessage, senders: Mapping[Channel, Sender]) -> str | None:
    """Send ``message``; None when it went, else why not (never raises)."""
    try:
        outgoing = _outgoing(message)
        sender = senders.get(outgoing.channel)
        if sender is None:
            return f"{outgoing.channel.value} is not configured on this server"
        sender(outgoing)
        return None
    except GovCloudError as exc:
        return error_text(exc.message)
    except Exception as exc:  # noqa: BLE001 - a sender's failure is the message's
        return error_text(f"{type(exc).__name__}: {exc}")


def _record(notifier: Notifier, message: StoredMessage, error: str | None,
            policy: RetryPolicy, done: Round) -> None:
    now = notifier.clock()
    attempts = message.attempts + 1
    if error is None:
        with write_begin(notifier.engine) as conn:
            repo.record_sent(conn, message.id, attempts=attempts, at=now)
        done.sent.append(message.id)
        return
    state, next_at = policy.after_failure(attempts, now)
    with write_session(notifier.engine) as session:
        repo.record_failed(session.connection(), message.id, attempts=attempts, state=state,
                           next_attempt_at=next_at, error=error, at=now)
        if state is DeliveryState.DEAD:
            AuditLog(session=session, clock=notifier.clock).append(
                actor="notifier", action="notification.dead",
                target=f"department:{message.department}",
                after={"notification": message.id, "event": message.event,
                       "channel": message.channel, "attempts": attempts, "error": error})
        session.commit()
    if state is DeliveryState.DEAD:
        log.warning("notification %s to %s given up after %d attempts: %s", message.id,
                    message.department, attempts, error)
        done.dead.append(message.id)
    else:
        log.info("notification %s failed (attempt %d), next at %s: %s", message.id,
                 attempts, next_at.isoformat() if next_at else "-", error)
        done.failed.append(message.id)


def deliver_due(notifier: Notifier, senders: Mapping[Channel, Sender], *, limit: int = 50,
                lease: dt.timedelta = dt.timedelta(minutes=10)) -> Round:
    """One round: send the messages due now (at most ``limit``), record each outcome."""
    now = notifier.clock()
    with write_begin(notifier.engine) as conn:
        due = repo.claim_due(conn, now=now, lease_until=now + lease, limit=limit)
    done = Round()
    for message in due:
        _record(notifier, message, _send(message, senders), notifier.config.policy, done)
    return done
