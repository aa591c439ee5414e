"""Turn one plain ``postgresql://`` URL into the async (asyncpg) and sync (psycopg 3) engine URLs and options."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_only

from service.config import Settings
from service.db.pool import fair_pool_class

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg"


def with_driver(url: str | URL, driver: str) -> URL:
    """Return ``url`` with its driver replaced; ``postgres://`` (Heroku style) is accepted too."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername=driver)


def async_url(url: str | URL) -> URL:
    return with_driver(url, ASYNC_DRIVER)


def sync_url(url: str | URL) -> URL:
    return with_driver(url, SYNC_DRIVER)


def server_guards(settings: Settings) -> dict[str, str]:
    """Session settings that bound a runaway statement or an abandoned transaction on the server side.

    Behind PgBouncer these cannot travel as startup parameters (it refuses unknown ones): set them on the app's
    role instead (``ALTER ROLE ... SET``, see ``deploy/app-role.sql``).
    """
    guards: dict[str, str] = {}
    if settings.pgbouncer:
        return guards
    if settings.statement_timeout_ms:
        guards["statement_timeout"] = str(settings.statement_timeout_ms)
    if settings.idle_in_transaction_timeout_ms:
        guards["idle_in_transaction_session_timeout"] = str(settings.idle_in_transaction_timeout_ms)
    return guards


def _unique_statement_name() -> str:
    # A transaction-mode pooler hands each transaction any server connection: asyncpg's numbered names would
    # collide with another client's statement there ("prepared statement ... already exists").
    return f"__asyncpg_{uuid4().hex}__"


def async_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments: pool settings plus asyncpg's connect options."""
    connect_args: dict[str, Any] = {
        "timeout": settings.connect_timeout,
        "server_settings": {"application_name": settings.application_name, **server_guards(settings)},
    }
    if settings.pgbouncer == "transaction":
        connect_args.update(
            statement_cache_size=0,  # asyncpg's own cache of prepared statements
            prepared_statement_cache_size=0,  # SQLAlchemy's adapter cache
            prepared_statement_name_func=_unique_statement_name,
        )
    return {**settings.pool.engine_options(), "connect_args": connect_args}


def sync_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` keyword arguments for psycopg 3: the same pool settings as the async side."""
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(settings.connect_timeout)),
        "application_name": settings.application_name,
    }
    guards = server_guards(settings)
    if guards:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in guards.items())
    if settings.pgbouncer == "transaction":
        connect_args["prepare_threshold"] = None  # psycopg: never prepare server-side
    return {**settings.pool.engine_options(), "connect_args": connect_args}


def make_async_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """``create_async_engine`` on asyncpg, with the pre-ping of :func:`install_pre_ping` in one round trip, on
    a first-come-first-served pool (:mod:`service.db.pool`; ``pool_max_waiters`` bounds its queue).

    SQLAlchemy's asyncpg adapter wraps its ``;`` ping in ``BEGIN`` … ``ROLLBACK`` so that a transaction-mode
    PgBouncer sees one transaction (sqlalchemy#10226): three round trips at every checkout, where psycopg's ping
    (the sync twin's) is one. A simple-protocol ``SELECT 1`` is a single message, hence a transaction of its own in
    PgBouncer too.
    """
    pre_ping, window = _ping_options(options)
    max_waiters = int(options.pop("pool_max_waiters", 0))
    if "poolclass" not in options:
        options["poolclass"] = fair_pool_class(max_waiters)
    engine = create_async_engine(async_url(url), **options)
    if pre_ping:
        install_pre_ping(engine.sync_engine, _asyncpg_ping, window)
    return engine


def make_sync_engine(url: str | URL, **options: Any) -> Engine:
    """``create_engine`` (psycopg 3 for the twin) with the same pre-ping as the async side, psycopg's own ping."""
    pre_ping, window = _ping_options(options)
    # The twin's threads wait on SQLAlchemy's own QueuePool: its waiters are bounded by its thread count.
    options.pop("pool_max_waiters", None)
    engine = create_engine(url, **options)
    if pre_ping:
        install_pre_ping(engine, engine.dialect.do_ping, window)
    return engine


def _ping_options(options: dict[str, Any]) -> tuple[bool, float]:
    # Not SQLAlchemy's pool_pre_ping: ours (below) knows the bypass window, and is the same on both stacks.
    return bool(options.pop("pool_pre_ping", False)), float(options.pop("pool_ping_window", 0.0))


_FRESH = "service.fresh_connection"
_CHECKED_IN_AT = "service.checked_in_at"
_PING = "SELECT 1"


def _asyncpg_ping(dbapi_connection: Any) -> None:
    # Simple protocol (no arguments): one message, no prepared statement. Not ";": asyncpg 0.32 fails on the
    # empty-query reply of the simple protocol.
    await_only(dbapi_connection.driver_connection.execute(_PING))


def install_pre_ping(engine: Engine, ping: Callable[[Any], object], window: float = 0.0) -> None:
    """Test a pooled connection at checkout, unless it cannot have died unnoticed yet.

    Not pinged: a connection opened for this checkout, and one checked in less than ``window`` seconds ago — the
    trade HikariCP makes with ``aliveBypassWindowMs`` (500 ms): a connection that just answered is almost surely
    alive, and pinging it costs a round trip per request. What the window lets through (a backend killed within
    it) fails on its first statement instead; a read-only request is then run again on a fresh connection
    (:func:`service.db.read_only.can_run_again`) and a write answers 503. ``window`` 0 pings every reused connection.

    A failed ping raises ``DisconnectionError``: the pool replaces the connection (a new one raises if the server
    is down) before the caller sees anything.
    """

    @event.listens_for(engine, "connect")
    def mark_fresh(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine, "checkin")
    def note_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping_if_due(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        if record.info.pop(_FRESH, False):
            return
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if window > 0 and checked_in_at is not None and time.monotonic() - checked_in_at < window:
            return
        try:
            ping(dbapi_connection)
        except Exception as error:
            # The pool invalidates this connection and opens a new one (which raises if the server is down).
            raise DisconnectionError("pre-ping failed") from error
