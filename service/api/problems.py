"""Every error as ``application/problem+json`` (RFC 9457), decided once for both apps.

Bodies carry a status title and a safe detail only: never a traceback, SQL, driver or class names, paths or the
database URL. Anything unexpected is a 500 with a fixed text and is logged without the exception's message (which
may hold SQL or parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from service.db.errors import means_unavailable, sqlstate
from service.errors import Conflict, DomainError, ServiceUnavailable, ValidationFailed
from service.retry import RETRYABLE_SQLSTATES
from service.schemas import LONE_SURROGATES

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("service.errors")


@dataclass(frozen=True, slots=True)
class Problem:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def problem(status: int, detail: str, *, errors: list[dict[str, Any]] | None = None, **headers: str) -> Problem:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return Problem(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def _encodable(text: str) -> str:
    """``text`` with any lone surrogate spelled as its escape (``\\ud800``): a strict JSON reader refuses one."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _message(error: ErrorDetails) -> str:
    # Pydantic's "string_unicode" is a str with no UTF-8 form; input here is always str (JSON or a decoded query
    # string), so that means a lone surrogate, in a value that has a pattern or a length limit, or in a key.
    if error["type"] == "string_unicode":
        return LONE_SURROGATES
    return _encodable(error["msg"])


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"loc", "msg"}`` — without the offending input, which may be huge or personal.

    A location or message never carries a lone surrogate (the problem must encode, and decode anywhere).
    """
    return [
        {
            "loc": [_encodable(part) if isinstance(part, str) else part for part in error["loc"]],
            "msg": _message(error),
        }
        for error in exc.errors(include_url=False)
    ]


def _first_location(errors: list[dict[str, Any]]) -> str:
    loc = errors[0]["loc"] if errors else []
    if loc and isinstance(loc[0], int):
        within = ".".join(str(part) for part in loc[1:])
        # A row that fails as a whole (not an object, a key with no UTF-8 form) has no field to name.
        return f"row {loc[0]}: {within}" if within else f"row {loc[0]}"
    return ".".join(str(part) for part in loc) or "body"


def for_validation(exc: ValidationError, *, query: bool) -> Problem:
    errors = validation_errors(exc)
    where = _first_location(errors)
    if query:
        return problem(400, f"malformed query parameter ({where})", errors=errors)
    first = errors[0]["msg"] if errors else ""
    return problem(422, f"request body failed validation ({where}: {first})", errors=errors)


def _is_unavailable(exc: BaseException) -> bool:
    # OSError: asyncpg lets the socket's own error through while it connects (refused, timed out, no such unix
    # socket, DNS failure, unreachable network); a request does no other I/O that could raise one.
    if isinstance(exc, (PoolTimeout, DisconnectionError, OSError)):
        return True
    if isinstance(exc, OperationalError) and not sqlstate(exc):
        return True  # psycopg's "cannot connect": no server answered, so there is no SQLSTATE
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or means_unavailable(sqlstate(exc))
    return False


def for_exception(exc: BaseException, retry_after: int = 1) -> Problem:
    """Map any exception a request can raise to its problem (the last-resort handler of both apps)."""
    if isinstance(exc, ValidationFailed):
        return problem(exc.status, exc.detail, errors=exc.errors)
    if isinstance(exc, ServiceUnavailable):
        return problem(503, exc.detail, Retry_After=str(retry_after))
    if isinstance(exc, DomainError):
        return problem(exc.status, exc.detail)
    if isinstance(exc, HTTPException):
        return _for_http_exception(exc)
    if _is_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem(503, "the database is unavailable, retry later", Retry_After=str(retry_after))
    if isinstance(exc, DBAPIError) and sqlstate(exc) in RETRYABLE_SQLSTATES:
        return for_exception(Conflict("conflict"))
    # The exception's text may hold SQL and parameters: log its type and where it came from, not its message.
    log.error("unhandled %s", type(exc).__name__, exc_info=False)
    return problem(500, "internal server error")


_HTTP_DETAILS = {
    400: "malformed request",
    404: "no such resource",
    405: "method not allowed",
    413: "request body too large",
    415: "the body must be JSON (Content-Type: application/json)",
}


def _for_http_exception(exc: HTTPException) -> Problem:
    status = exc.code or 500
    headers: dict[str, str] = {}
    if status == 405:
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            headers["Allow"] = allow
    detail = _HTTP_DETAILS.get(status, HTTPStatus(status).phrase.lower())
    return Problem(status, problem(status, detail).body, headers)
