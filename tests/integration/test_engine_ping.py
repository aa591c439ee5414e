"""The engines' pre-ping: one round trip per checkout, a dead connection replaced unseen, and the bypass window.

Inside the window (a connection checked in less than ``pool_ping_window`` seconds ago) nothing is sent at checkout;
a connection that died there fails its first statement as a disconnect (``connection_invalidated``), which is what
lets a read-only request run again (``tests/reliability/test_stale_connections.py``), and the pool is replaced.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.db.engine import async_url, make_async_engine, make_sync_engine, sync_url

POOL = {"pool_size": 1, "max_overflow": 0, "pool_pre_ping": True}


def _log_statements(engine: AsyncEngine) -> list[str]:
    """The statements asyncpg sends on the engine's connections through its simple protocol (BEGIN included)."""
    sent: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda logged: sent.append(logged.query.strip()))

    return sent


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[Callable[[Callable[..., AsyncEngine]], AsyncEngine]]:
    made: list[AsyncEngine] = []

    def make(factory: Callable[..., AsyncEngine]) -> AsyncEngine:
        made.append(factory(async_url(database_url) if factory is create_async_engine else database_url, **POOL))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(admin_engine: AsyncEngine, pid: int) -> None:
    """End the backend ``pid`` and wait (up to 5 s) until it is gone, so the next checkout meets a dead socket."""
    async with admin_engine.connect() as admin:
        ended = await admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        assert ended.scalar_one()


async def test_checkout_pings_with_one_statement(engines: Callable[[Callable[..., AsyncEngine]], AsyncEngine]) -> None:
    ours, sqlalchemys = engines(make_async_engine), engines(create_async_engine)
    sent_ours, sent_sqlalchemys = _log_statements(ours), _log_statements(sqlalchemys)
    for engine in (ours, sqlalchemys):
        pid = await _pid(engine)  # a fresh connection: not pinged
        assert await _pid(engine) == pid  # pinged, alive, reused
    # The query's own BEGIN/ROLLBACK (asyncpg's logger does not show prepared statements, so not the SELECT).
    query = ["BEGIN;", "ROLLBACK;"]
    assert sent_ours == [*query, "SELECT 1", *query]  # a fresh connection is not pinged; a reused one once
    # What SQLAlchemy's own pool_pre_ping sends on asyncpg, and why this one exists: three round trips.
    assert sent_sqlalchemys == [*query, "BEGIN;", ";", "ROLLBACK;", *query]


async def test_a_terminated_connection_is_replaced_at_checkout(
    engines: Callable[[Callable[..., AsyncEngine]], AsyncEngine], engine: AsyncEngine
) -> None:
    pinged = engines(make_async_engine)
    pid = await _pid(pinged)
    await _terminate(engine, pid)
    # The caller never sees the dead connection: the ping fails, the pool opens a new one.
    assert await _pid(pinged) != pid
    assert pinged.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_inside_the_window_a_connection_is_not_pinged(database_url: str) -> None:
    engine = make_async_engine(database_url, **POOL, pool_ping_window=0.3)
    sent = _log_statements(engine)
    try:
        pid = await _pid(engine)
        assert await _pid(engine) == pid  # checked in a moment ago: no ping
        assert "SELECT 1" not in sent
        await asyncio.sleep(0.4)
        assert await _pid(engine) == pid  # idle past the window: pinged once
        assert sent.count("SELECT 1") == 1
    finally:
        await engine.dispose()


async def test_a_connection_killed_inside_the_window_fails_as_a_disconnect_once(
    database_url: str, engine: AsyncEngine
) -> None:
    windowed = make_async_engine(database_url, **POOL, pool_ping_window=60)
    try:
        pid = await _pid(windowed)
        await _terminate(engine, pid)
        with pytest.raises(DBAPIError) as failure:
            await _pid(windowed)
        assert failure.value.connection_invalidated
        assert await _pid(windowed) != pid  # the pool replaced it: the next checkout works
        assert windowed.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await windowed.dispose()


def _sync_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


@pytest.mark.parametrize("window", [0.0, 60.0])
async def test_the_twin_engine_pings_the_same_way(database_url: str, engine: AsyncEngine, window: float) -> None:
    """psycopg behind ``make_sync_engine``: replaced unseen outside the window, a disconnect inside it."""
    sync = make_sync_engine(sync_url(database_url), **POOL, pool_ping_window=window)
    try:
        pid = _sync_pid(sync)
        await _terminate(engine, pid)
        if window:
            with pytest.raises(DBAPIError) as failure:
                _sync_pid(sync)
            assert failure.value.connection_invalidated
        assert _sync_pid(sync) != pid
    finally:
        sync.dispose()
