"""Read PostgreSQL's error fields off a SQLAlchemy error, whichever driver (asyncpg or psycopg 3) raised it."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE code: psycopg exposes ``sqlstate``, SQLAlchemy's asyncpg adapter ``pgcode``."""
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def constraint_name(exc: DBAPIError) -> str | None:
    """The violated constraint: psycopg has it in ``diag``, asyncpg on the original exception (the cause)."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    cause = getattr(orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    return str(name) if name else None


UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"
QUERY_CANCELED = "57014"

# Connection-class SQLSTATEs (08xxx), "cannot connect now" (57P03), admin/crash shutdown (57P01/57P02),
# "too many connections" (53300: the server's max_connections is reached, a new pool connection was refused), and
# the two refusals a server gives only while a connection is being opened: authorization (28xxx: no such role,
# wrong password, pg_hba) and no such database (3D000). The twin's psycopg reports those without a SQLSTATE, as
# "cannot connect": with these codes asyncpg's answer is the same 503.
_UNAVAILABLE_PREFIXES = ("08", "57P", "53300", "28", "3D000")


def means_unavailable(code: str | None) -> bool:
    """Whether a SQLSTATE says the database cannot serve right now (the client should retry later)."""
    return bool(code) and (code == QUERY_CANCELED or str(code).startswith(_UNAVAILABLE_PREFIXES))
