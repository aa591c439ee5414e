"""Alembic environment: async (asyncpg) online migrations, plain SQL offline, from ``DATABASE_URL``.

The migration connection sets a short ``lock_timeout`` so a migration queued behind a long query fails fast
instead of blocking all traffic on the table behind its own lock request, and a ``statement_timeout`` so no
statement runs unbounded.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from service.config import load_settings
from service.db import models  # noqa: F401  (registers every table on the metadata)
from service.db.base import Base
from service.db.engine import async_url

config = context.config
target_metadata = Base.metadata
LOCK_TIMEOUT = os.environ.get("MIGRATION_LOCK_TIMEOUT", "5s")
STATEMENT_TIMEOUT = os.environ.get("MIGRATION_STATEMENT_TIMEOUT", "15min")


def _database_url() -> str:
    # -x url=... lets tests point Alembic at a database of their own without touching the environment.
    return context.get_x_argument(as_dictionary=True).get("url") or load_settings().database_url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _set_timeouts() -> None:
    context.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    context.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")


def run_migrations_offline() -> None:
    _configure(url=async_url(_database_url()).render_as_string(hide_password=True), literal_binds=True)
    with context.begin_transaction():
        _set_timeouts()
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        _set_timeouts()
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(async_url(_database_url()), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
