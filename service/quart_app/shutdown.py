"""What the async app does when Hypercorn's graceful timeout runs out on a request.

At the end of ``graceful_timeout`` Hypercorn cancels the requests still running. Their sessions roll back in the
teardown (nothing half-done is committed); what is left is the answer and the log. Hypercorn would send a bare 500
and CPython 3.11's asyncio logs a ``CancelledError`` traceback per cancelled connection (gh-113538). Instead the
client gets the contract's 503 + ``Retry-After``, and loop errors are logged as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

log = logging.getLogger("service.shutdown")

ASGIApp = Any


class CancelledRequestGuard:
    """ASGI middleware: a request cancelled before its response started is answered 503 + ``Retry-After``."""

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app = app
        body = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "the server is shutting down, retry",
        }
        self._body = json.dumps(body, sort_keys=True).encode()
        self._retry_after = str(retry_after).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not started:
                # The client may be gone too; nothing more to do then.
                with contextlib.suppress(Exception):
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 503,
                            "headers": [
                                (b"content-type", b"application/problem+json"),
                                (b"retry-after", self._retry_after),
                                (b"connection", b"close"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": self._body})
            raise


def quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log the event loop's stray errors as one line each: no traceback (it may carry SQL or paths)."""

    def handle(_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, asyncio.CancelledError):
            return  # a connection cancelled at shutdown: expected
        log.error("event loop error: %s", type(exc).__name__ if exc is not None else context.get("message", "?"))

    loop.set_exception_handler(handle)
