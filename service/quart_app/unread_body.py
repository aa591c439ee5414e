"""The async app's side of :mod:`service.api.unread_body`: an ASGI middleware around Quart.

Quart keeps receiving the request body while its response is being sent (``quart/asgi.py``,
``ASGIHTTPConnection.__call__`` cancels its receiving task only once the response is out), so waiting inside
``send`` lets the rest of the body arrive; Quart's ``Body`` stops storing it past MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from service.api.unread_body import DRAIN_SECONDS, LINGER_SECONDS, declared_length, may_drain

ASGIApp = Any
Message = dict[str, Any]
# Connection is an HTTP/1 header; HTTP/2 ends a stream's unread body on its own (RST_STREAM).
_HTTP1 = frozenset({"1.0", "1.1"})


class _BodyProgress:
    """What the app has received of the request body so far."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.received = 0
        self.ended = asyncio.Event()  # the whole body arrived, or the client went away
        self.settled = asyncio.Event()  # ended, or more than ``cap`` bytes arrived: waiting longer is pointless

    def saw(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.ended.set()
        elif message["type"] == "http.disconnect":
            self.ended.set()
        if self.ended.is_set() or self.received > self.cap:
            self.settled.set()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _says_close(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name.lower() == b"connection" and b"close" in value.lower() for name, value in headers)


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """``Content-Length`` and ``Transfer-Encoding`` of the request (every request passes here: no dict built)."""
    content_length = transfer_encoding = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            content_length = value.decode("latin-1")
        elif lowered == b"transfer-encoding":
            transfer_encoding = value.decode("latin-1")
    return content_length, transfer_encoding


class UnreadBodyGuard:
    """ASGI middleware: no response leaves unread request bytes on a connection the client may reuse."""

    def __init__(self, app: ASGIApp, max_content_length: int) -> None:
        self.app = app
        self.max_content_length = max_content_length

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("http_version") not in _HTTP1:
            await self.app(scope, receive, send)
            return
        length = declared_length(*_framing(scope["headers"]))
        if length == 0:
            await self.app(scope, receive, send)
            return
        progress = _BodyProgress(self.max_content_length)
        closing = False

        async def counting_receive() -> Message:
            message: Message = await receive()
            progress.saw(message)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal closing
            if message["type"] == "http.response.start" and not progress.ended.is_set():
                if may_drain(length, self.max_content_length):
                    await _wait(progress.settled, DRAIN_SECONDS)
                if not progress.ended.is_set():
                    closing = True
                    start_headers = list(message.get("headers", []))
                    if not _says_close(start_headers):
                        start_headers.append((b"connection", b"close"))
                    message = {**message, "headers": start_headers}
            elif closing and message["type"] == "http.response.body" and not message.get("more_body", False):
                # Hypercorn closes the socket as soon as the response ends; held open a little longer, the client
                # can finish sending and read the whole response before the close (no reset under it).
                await send({**message, "more_body": True})
                await _wait(progress.ended, LINGER_SECONDS)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, counting_receive, guarded_send)
