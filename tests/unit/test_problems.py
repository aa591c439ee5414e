"""The exception → problem mapping shared by both apps (no database)."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.api.problems import for_exception
from service.db.errors import means_unavailable


class _Orig(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__("driver text with SELECT secret FROM users")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("code", "unavailable"),
    [
        ("53300", True),
        ("08006", True),
        ("57P01", True),
        ("57014", True),
        ("28P01", True),  # wrong password: only ever at connect
        ("28000", True),  # no such role / pg_hba refusal
        ("3D000", True),  # no such database
        ("23505", False),
        ("42P01", False),
        (None, False),
    ],
)
def test_means_unavailable(code: str | None, unavailable: bool) -> None:
    assert means_unavailable(code) is unavailable


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (DBAPIError("SELECT 1", {}, _Orig("53300")), 503),  # too many clients
        (OperationalError("SELECT 1", {}, _Orig(None)), 503),  # psycopg could not connect
        (PoolTimeout(), 503),
        (FileNotFoundError(2, "No such file or directory"), 503),  # asyncpg: the unix socket is not there
        (socket.gaierror(-2, "Name or service not known"), 503),  # asyncpg: DNS failure
        (ConnectionRefusedError(111, "Connection refused"), 503),
        (DBAPIError("SELECT 1", {}, _Orig("3D000")), 503),  # asyncpg: no such database
        (DBAPIError("SELECT 1", {}, _Orig("40P01")), 409),  # a deadlock outside a retried unit of work
        (DBAPIError("SELECT 1", {}, _Orig("42P01")), 500),
        (RuntimeError("boom at /srv/app.py"), 500),
    ],
)
def test_for_exception(exc: BaseException, status: int) -> None:
    problem = for_exception(exc, retry_after=4)
    assert problem.status == status
    assert ("Retry-After" in problem.headers) is (status == 503)
    assert "SELECT" not in str(problem.body)
    assert "/srv" not in str(problem.body)
