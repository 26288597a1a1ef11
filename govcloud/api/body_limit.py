"""The request body limit: no body over ``max_bytes`` reaches a route, its parser or the
database (docs/security.md, "Input limits").

``BodyLimit`` is plain ASGI middleware in front of the app. A request whose Content-Length is
over the limit is answered 413 before anything of its body is read; a body sent without a
length (chunked) is read and counted as it arrives and answered 413 as soon as it passes the
limit. A body within the limit is handed on unchanged. The answer carries the usual error body
(``TooLarge``, an ``InvalidInput``: the CLI exits 2).

What is over the limit is read and thrown away (up to ``DRAIN_BYTES``) before answering, so
that the client, still sending, reads the 413 rather than a reset connection; beyond that the
connection is closed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from govcloud.api.deps import error_body
from govcloud.errors import TooLarge

DEFAULT_MAX_BODY_BYTES = 1 << 20  # 1 MiB
DRAIN_BYTES = 16 << 20  # read (and drop) at most this much of a refused body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"the request body is larger than {max_bytes} bytes, the server's limit",
                    hint="send less (a justification or note has its own length limit, see "
                         "docs/security.md); an operator may raise the limit with the "
                         "max_request_bytes setting")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() \
                and int(declared) > self.max_bytes:
            if int(declared) <= DRAIN_BYTES and _header(scope, b"expect") is None:
                await self._drain(receive, 0)
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nobody to answer
                return
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > self.max_bytes:
                if more:
                    await self._drain(receive, size)
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not more:
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    @staticmethod
    async def _drain(receive: Receive, size: int) -> None:
        while size <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(error_body(too_large(self.max_bytes))).encode()
        await send({"type": "http.response.start", "status": TooLarge.http_status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body read already, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
