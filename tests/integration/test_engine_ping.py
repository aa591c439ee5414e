"""``make_async_engine``'s pre-ping: one round trip per checkout, and a dead connection is replaced unseen."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.db.engine import async_url, make_async_engine

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
    async with engine.connect() as admin:
        assert (await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
    # The caller never sees the dead connection: the ping fails, the pool opens a new one.
    assert await _pid(pinged) != pid
    assert pinged.pool.checkedout() == 0  # type: ignore[attr-defined]
