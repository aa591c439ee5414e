"""Domain errors raised by repositories and use cases; both web apps map them to problem+json responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """Base class: ``status`` and ``title`` say how the HTTP layer answers; ``detail`` is safe to show."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status = 404
    title = "Not Found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition Failed"


class ValidationFailed(DomainError):
    """Well-formed input that breaks a rule; ``errors`` holds ``{"loc": [...], "msg": ...}`` items."""

    status = 422
    title = "Unprocessable Content"

    def __init__(self, detail: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class ServiceUnavailable(DomainError):
    """The database cannot serve right now (unreachable, pool exhausted, timed out); the client should retry."""

    status = 503
    title = "Service Unavailable"
