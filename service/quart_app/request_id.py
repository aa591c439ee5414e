"""The ASGI side of ``X-Request-ID`` (:mod:`service.api.request_id`): outermost, so every answer the app sends
carries it, the guards' 413 and 503 included."""

from __future__ import annotations

from typing import Any

from service.api.request_id import HEADER, accept_or_make, current

ASGIApp = Any
_NAME = HEADER.lower().encode("latin-1")


class RequestIdMiddleware:
    """Reads the request's ``X-Request-ID``, sets :data:`current` for the request, and answers with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for name, value in scope.get("headers", ()) if name.lower() == _NAME), None)
        request_id = accept_or_make(sent.decode("latin-1") if sent is not None else None)
        encoded = request_id.encode("latin-1")

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _NAME]
                message = {**message, "headers": [*headers, (_NAME, encoded)]}
            await send(message)

        token = current.set(request_id)  # the app's tasks are created below, so they see it
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
