"""Real receivers for the notifications' tests, on loopback: an SMTP server (aiosmtpd) that
keeps every mail it accepts with its envelope, and an HTTP server that keeps every webhook
request and answers with the statuses it is told to (test_notifier_delivery.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Mailbox:
    """What the SMTP server accepted, in order."""

    port: int
    mails: list[Mail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.arrived:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos),
                                   bytes(envelope.original_content or envelope.content)))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Mail]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.mails) >= count, timeout), \
                f"{len(self.mails)} of {count} mails arrived"
            return list(self.mails)


@contextmanager
def smtp_server(port: int | None = None) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 (``port``, or a free one) until the block ends."""
    box = Mailbox(port or free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Hit:
    path: str
    headers: Message  # case-insensitive get(), as a web framework's
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver: every request it got, and the statuses it answers with in turn
    (then 200 once they run out)."""

    url: str
    statuses: list[int]
    hits: list[Hit] = field(default_factory=list)


@contextmanager
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 on a thread until the block ends."""
    receiver = Receiver("", list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.hits.append(Hit(self.path, self.headers, body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b"ok" if status < 300 else b"receiver down\r\nX-Evil: 1"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0K3N"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
