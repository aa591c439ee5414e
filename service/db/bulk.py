"""Bulk loading with PostgreSQL ``COPY ... FROM STDIN``, through the session's own connection and transaction.

``COPY`` is the fastest way into PostgreSQL, but neither SQLAlchemy nor the generator of the sync twin knows about
it: it is a driver API (asyncpg's ``copy_records_to_table``, psycopg 3's ``cursor.copy``). So this module is the
hand-written pair — :func:`copy_rows` for an ``AsyncSession`` on asyncpg and :func:`copy_rows_sync` for a
``Session`` on psycopg 3 — and ``scripts/generate_sync.py`` maps the first name to the second.

Both write in the session's *current* transaction: nothing is committed here, a later ``rollback()`` (or the
request teardown) removes the rows, and a failed ``COPY`` aborts the transaction like any failed statement.

Errors raised through the raw driver connection are **not** wrapped by SQLAlchemy (no ``IntegrityError``, no
``DBAPIError``), so they are mapped here: a unique violation (SQLSTATE 23505) becomes :class:`DuplicateKey`, a
:class:`~service.errors.Conflict`; a lost connection, a server shutdown or a cancelled statement becomes
:class:`~service.errors.ServiceUnavailable`, as the problem mapping does for statements run by SQLAlchemy.

``COPY`` bypasses the ORM and the cursor events: the query metrics and ``X-Query-Count`` do not see it, and
Python-side column defaults are not applied — :func:`batch_defaults` computes them for the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from service.db.errors import UNIQUE_VIOLATION, means_unavailable
from service.errors import Conflict, DomainError, ServiceUnavailable


class DuplicateKey(Conflict):
    """A ``COPY`` broke a unique index; ``constraint`` names it (e.g. ``uq_users_email_live``) when known."""

    def __init__(self, detail: str, constraint: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint


def batch_defaults(table: Table, now: datetime) -> dict[str, Any]:
    """The values the ORM would fill in for ``table``'s columns that have a Python-side default.

    ``COPY`` (and a Core insert of tuples) skips ``Column(default=...)``, so a bulk writer takes these:
    scalar defaults as they are (``role='member'``, ``is_active=True``); callable defaults of timestamp columns
    (``TimestampMixin``'s ``utcnow``) get the batch's single ``now``, so ``created_at == updated_at`` as for a row
    the ORM just inserted; other callables are called once for the batch. A SQL-expression default cannot be sent
    as a value and is refused. Identity columns and columns without a default are left to the server.
    """
    values: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is None or default.is_sequence or default.is_identity:
            continue
        if default.is_scalar:
            values[column.name] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            # SQLAlchemy wraps a zero-argument callable as ``fn(context)``; no execution context exists here.
            values[column.name] = now if isinstance(column.type, DateTime) else default.arg(None)  # type: ignore[attr-defined]
        else:
            raise TypeError(f"{table.name}.{column.name}: a SQL-expression default cannot be bulk-copied")
    return values


def records(rows: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Turn dict rows into ``(columns, tuples)`` for ``COPY``: the rows' own keys, then the defaults they lack.

    Every row must have the keys of the first one (as for an executemany); extra keys are ignored. Built with
    ``itemgetter`` because this loop is a visible share of a 10,000-row request.
    """
    if not rows:
        return list(defaults), []
    given = list(rows[0])
    extra = [name for name in defaults if name not in rows[0]]
    tail = tuple(defaults[name] for name in extra)
    if len(given) == 1:
        key = given[0]
        return given + extra, [(row[key], *tail) for row in rows]
    getter = itemgetter(*given)
    return given + extra, [getter(row) + tail for row in rows]


def _translate(exc: Exception, connection_lost: bool) -> DomainError | None:
    """The domain error for a driver error raised during ``COPY``, or ``None`` to let it propagate."""
    code = getattr(exc, "sqlstate", None)
    if code == UNIQUE_VIOLATION:
        # asyncpg carries the constraint on the exception, psycopg in ``diag``.
        constraint = getattr(exc, "constraint_name", None) or getattr(
            getattr(exc, "diag", None), "constraint_name", None
        )
        return DuplicateKey("a row repeats a unique key", str(constraint) if constraint else None)
    if connection_lost or means_unavailable(code):
        return ServiceUnavailable("the database is unavailable, retry later")
    return None


async def copy_rows(session: AsyncSession, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """``COPY table (columns) FROM STDIN`` (binary) through asyncpg, in ``session``'s transaction; rows written.

    Raises :class:`DuplicateKey` on a unique violation; the transaction is then aborted and must be rolled back
    (the request teardown does), after which the pooled connection is as good as new.
    """
    import asyncpg

    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    if not isinstance(driver, asyncpg.Connection):
        raise TypeError(f"copy_rows needs an asyncpg connection, not {type(driver).__name__}")
    if not driver.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN lazily, before its first statement; a COPY sent straight to the
        # driver before that would run in autocommit and survive a rollback. One trivial statement through
        # SQLAlchemy opens the transaction the adapter will commit or roll back. (Under AUTOCOMMIT isolation
        # nothing opens, and the COPY stands alone — still atomic by itself.)
        await conn.exec_driver_sql("SELECT 1")
    try:
        status: str = await driver.copy_records_to_table(
            table.name, records=rows, columns=list(columns), schema_name=table.schema
        )
    except Exception as exc:
        # A lost connection surfaces in several shapes (ConnectionDoesNotExistError, AdminShutdownError, OSError,
        # even InternalClientError when the server closes it mid-protocol): whatever it was, a closed connection
        # means the database could not serve.
        raise (_translate(exc, connection_lost=driver.is_closed()) or exc) from exc
    return int(status.rsplit(" ", 1)[-1])  # "COPY 10000"


def copy_rows_sync(session: Session, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """The psycopg 3 twin of :func:`copy_rows`: binary ``cursor.copy()`` + ``write_row``, in ``session``'s transaction.

    psycopg opens the transaction itself before the ``COPY`` (its connections are not in autocommit under
    SQLAlchemy), so the session's commit or rollback covers the rows.
    """
    import psycopg
    from psycopg import sql

    driver: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    if not isinstance(driver, psycopg.Connection):
        raise TypeError(f"copy_rows_sync needs a psycopg connection, not {type(driver).__name__}")
    target = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    try:
        with driver.cursor() as cursor:
            # Binary COPY (a third faster than text here) needs each column's type: ask the server, as asyncpg
            # does for its own binary COPY, with a statement that reads no row.
            cursor.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(names, target))
            types = [column.type_code for column in cursor.description or ()]
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(target, names)) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return cursor.rowcount
    except Exception as exc:
        raise (_translate(exc, connection_lost=driver.broken or driver.closed) or exc) from exc
