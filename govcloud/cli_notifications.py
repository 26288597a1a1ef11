"""``govcloud notifications list|retry``: the messages sent to the departments' contacts and
webhooks, clients of ``/notifications`` (docs/notifications.md). Registered by
``govcloud.cli``; errors are reported there (a message the caller may not see: exit 4; a sent
one retried: exit 3)."""

from __future__ import annotations

import argparse
from typing import Any

from govcloud.api.models.notifications import Notification
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo, identifier
from govcloud.client import as_json
from govcloud.domain.text import printable

COLUMNS = ("ID", "STATE", "EVENT", "REF", "DEPARTMENT", "CHANNEL", "RECIPIENT", "TRIES",
           "NEXT / SENT", "SUBJECT / LAST ERROR")
STATES = ("pending", "sent", "dead")


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "-"


def _row(n: Notification) -> tuple[str, ...]:
    when = _when(n.sent_at) if n.state == "sent" else _when(n.next_attempt_at)
    last = n.last_error if n.last_error and n.state != "sent" else n.subject
    return (str(n.id), n.state, n.event, n.ref, n.department, n.channel, n.recipient,
            str(n.attempts), when, (last or "-")[:80])


def cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.notifications(state=args.state, department=args.department,
                                   limit=args.limit, before=args.before)
    if args.json:
        _print_json(as_json(answer))
        return 0
    if answer.notifications:
        echo(_table([_row(n) for n in answer.notifications], COLUMNS))
    else:
        echo("no notifications" + (f" {printable(args.state)}" if args.state else ""))
    echo(", ".join(f"{count} {state}" for state, count in answer.counts.items()))
    if answer.next_before is not None:
        echo(f"more: govcloud notifications list --before {answer.next_before}")
    if answer.counts.get("dead"):
        echo("hint: a dead message was given up after its last attempt; fix the cause "
             "(SMTP, the webhook) and try it again: govcloud notifications retry ID")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.retry_notification(args.id)
    if args.json:
        _print_json(as_json(answer))
        return 0
    echo(f"notification {answer.id} ({printable(answer.event)} to "
         f"{printable(answer.recipient)}) is {answer.state}, due now; the notifier sends it "
         "on its next round")
    return 0


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 2^31-1")
    return number


def _limit(value: str) -> int:
    number = _positive(value)
    if number > 500:
        raise argparse.ArgumentTypeError(f"{number} is over 500")
    return number


def register(commands: Any) -> None:
    sub = _group(commands, "notifications", "messages to the departments' contacts and "
                 "webhooks (docs/notifications.md)")
    p = _cmd(sub, "list", cmd_list, "list the messages you may see, newest first")
    p.add_argument("--state", choices=STATES)
    p.add_argument("--department", type=identifier("department"))
    p.add_argument("--limit", type=_limit, default=100, metavar="N",
                   help="at most N messages (1-500, default 100)")
    p.add_argument("--before", type=_positive, metavar="ID",
                   help="only messages older than this id (the next page)")
    p = _cmd(sub, "retry", cmd_retry, "try a pending or dead message again now (audited)")
    p.add_argument("id", type=_positive)
