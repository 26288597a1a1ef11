"""The request body limit as plain ASGI, without a server: which bodies reach the app (whole
and unchanged), which are answered 413 and when, and how much of a refused body is drained.
(Over HTTP: tests/integration/control/test_api_limits.py.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from govcloud.api.body_limit import DRAIN_BYTES, BodyLimit

LIMIT = 100


class Client:
    """The client's side: ``chunks`` sent one message each; what the app saw and was sent."""

    def __init__(self, *chunks: bytes, disconnect: bool = False) -> None:
        self.messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)]
        if disconnect:
            self.messages.append({"type": "http.disconnect"})
        self.read = 0
        self.sent: list[dict[str, Any]] = []
        self.app_body: bytes | None = None

    async def receive(self) -> dict[str, Any]:
        self.read += 1
        if self.read > len(self.messages):
            return {"type": "http.disconnect"}
        return self.messages[self.read - 1]

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.app_body = body
        await send({"type": "http.response.start", "status": 200, "headers": []})

    def run(self, headers: dict[bytes, bytes] | None = None, kind: str = "http") -> None:
        scope = {"type": kind, "headers": list((headers or {}).items())}
        asyncio.run(BodyLimit(self.app, max_bytes=LIMIT)(scope, self.receive, self.send))

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"),
                    None)


def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    client = Client(b"a" * 60, b"b" * 40)  # exactly the limit, in two chunks
    client.run()
    assert client.status == 200 and client.app_body == b"a" * 60 + b"b" * 40


def test_a_declared_length_over_the_limit_is_refused_before_the_app() -> None:
    client = Client(b"x" * 150)
    client.run({b"Content-Length": b"150"})
    assert client.status == 413 and client.app_body is None
    start, body = client.sent
    assert (b"connection", b"close") in start["headers"]
    error = json.loads(body["body"])
    assert "larger than 100 bytes" in json.dumps(error)
    assert client.read == 1  # what was sent was drained, so the client reads the 413


def test_a_client_that_waits_for_100_continue_is_refused_without_reading() -> None:
    client = Client(b"x" * 150)
    client.run({b"Content-Length": b"150", b"Expect": b"100-continue"})  # any case
    assert client.status == 413 and client.read == 0


def test_a_huge_declared_length_is_refused_without_draining() -> None:
    client = Client(b"x")
    client.run({b"content-length": str(DRAIN_BYTES + 1).encode()})
    assert client.status == 413 and client.read == 0


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    client = Client(b"a" * 60, b"b" * 60, b"c" * 60, b"d")
    client.run()
    assert client.status == 413 and client.app_body is None
    assert client.read == 4  # the rest drained after the refusal


@pytest.mark.parametrize("declared", [b"abc", b"-5", b""])
def test_a_length_that_is_not_a_number_is_not_trusted_the_body_is_counted(
        declared: bytes) -> None:
    client = Client(b"a" * 150)
    client.run({b"content-length": declared})
    assert client.status == 413 and client.app_body is None


def test_a_client_gone_before_the_end_gets_no_answer_and_the_app_no_call() -> None:
    client = Client(disconnect=True)
    client.messages = [{"type": "http.request", "body": b"a", "more_body": True},
                       {"type": "http.disconnect"}]
    client.run()
    assert client.sent == [] and client.app_body is None


def test_other_connections_pass_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(BodyLimit(app, max_bytes=1)({"type": "lifespan"}, Client().receive,
                                            Client().send))
    assert seen == ["lifespan"]
