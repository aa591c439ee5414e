"""The WSGI side of ``X-Request-ID`` (:mod:`service.api.request_id`): outermost, so every answer the app sends
carries it, the body guard's 413 included."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from service.api.request_id import HEADER, accept_or_make, current

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RequestIdMiddleware:
    """Reads the request's ``X-Request-ID``, sets :data:`current` for the request, and answers with it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = accept_or_make(environ.get("HTTP_X_REQUEST_ID"))

        def start_with_id(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if name.lower() != HEADER.lower()]
            return start_response(status, [*kept, (HEADER, request_id)], exc_info)

        # The app runs in this thread and builds its whole answer here (nothing streams), so the ID covers
        # every line it logs.
        token = current.set(request_id)
        try:
            return self.app(environ, start_with_id)
        finally:
            current.reset(token)
