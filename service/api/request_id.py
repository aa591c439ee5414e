"""``X-Request-ID`` (API v1.1): one ID per request, echoed on every response and written in its log lines.

The client's (or the load balancer's) ID is kept when it is 1-128 visible ASCII characters; anything else is
replaced, so a log line never carries a newline, a control character or an unbounded value a client chose. Each
app's middleware (:mod:`service.quart_app.request_id`, :mod:`service.flask_app.request_id`) sets :data:`current`
for the request; :class:`RequestIdFilter` puts it on log records; the access log formats name the response header.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
MAX_LENGTH = 128

current: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_make(sent: str | None) -> str:
    """``sent`` when it is a usable ID, else a new random one (32 hex digits)."""
    if sent and len(sent) <= MAX_LENGTH and all("!" <= char <= "~" for char in sent):
        return sent
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the current request's ID (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or "-"
        return True
