"""The async engines' pool serves checkouts first come, first served, and refuses at once past ``max_waiters``.

On real PostgreSQL connections. The barging case is also run on SQLAlchemy's own ``AsyncAdaptedQueuePool``, where a
newcomer takes the connection ahead of the queue: that is what the fair pool exists to prevent (and shows that the
test can tell the two apart).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from service.db.engine import make_async_engine
from service.db.pool import FairQueue, fair_pool_class

WAITERS = 5


def _engine(url: str, **options: Any) -> AsyncEngine:
    return make_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=5, **options)


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    return await engine.connect()


async def _queue_order(engine: AsyncEngine) -> list[str]:
    """Hold the one connection, queue five waiters, then release it just as a newcomer asks: who got it, in order.

    As in a busy server: the newcomer's first step is already scheduled when the connection comes back, so it runs
    before the woken waiter does.
    """
    order: list[str] = []
    holder = await engine.raw_connection()  # its close() checks it in at once, in this step

    async def checkout(name: str) -> None:
        async with engine.connect() as conn:
            order.append(name)
            await conn.execute(text("SELECT 1"))

    waiters = []
    for n in range(WAITERS):
        waiters.append(asyncio.create_task(checkout(f"waiter-{n}")))
        await asyncio.sleep(0.01)  # each one queued before the next arrives
    newcomer = asyncio.create_task(checkout("newcomer"))  # scheduled first ...
    holder.close()  # ... then the connection goes back and the oldest waiter is woken, to run after the newcomer
    await asyncio.wait_for(asyncio.gather(*waiters, newcomer), 30)
    return order


async def test_a_returned_connection_goes_to_the_oldest_waiter(database_url: str) -> None:
    engine = _engine(database_url)
    try:
        order = await _queue_order(engine)
    finally:
        await engine.dispose()
    assert order == [*(f"waiter-{n}" for n in range(WAITERS)), "newcomer"]


async def test_sqlalchemys_own_pool_lets_the_newcomer_barge_in(database_url: str) -> None:
    engine = _engine(database_url, poolclass=AsyncAdaptedQueuePool)
    try:
        order = await _queue_order(engine)
    finally:
        await engine.dispose()
    assert order[0] == "newcomer"


async def test_a_waiter_that_times_out_leaves_the_queue(database_url: str) -> None:
    engine = make_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            with pytest.raises(exc.TimeoutError):
                await engine.connect()
            assert _queue(engine).waiting() == 0
        async with engine.connect() as conn:  # the connection was not lost on the way
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_a_cancelled_waiter_never_swallows_a_connection(database_url: str) -> None:
    engine = _engine(database_url)
    try:
        holder = await engine.raw_connection()
        first = asyncio.create_task(_connect(engine))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(_connect(engine))
        await asyncio.sleep(0.01)
        assert _queue(engine).waiting() == 2
        # Hand the connection to the first waiter and cancel it in the same instant, before it can run.
        holder.close()
        first.cancel()
        conn = await asyncio.wait_for(second, 5)  # the connection was passed on to the next in line
        await conn.close()
        assert first.cancelled()
        assert _queue(engine).waiting() == 0
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def test_past_max_waiters_a_checkout_is_refused_at_once(database_url: str) -> None:
    engine = _engine(database_url, pool_max_waiters=2)
    try:
        async with engine.connect() as held:
            await held.execute(text("SELECT 1"))
            queued = [asyncio.create_task(_connect(engine)) for _ in range(2)]
            await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(exc.TimeoutError):
                await engine.connect()
            assert loop.time() - started < 1, "refused at once, not after pool_timeout (5 s)"
        for task in queued:  # the two that were let in are served in turn
            conn = await asyncio.wait_for(task, 5)
            await conn.close()
    finally:
        await engine.dispose()


def test_the_pool_class_keeps_its_bound_across_dispose_and_refuses_a_negative_one() -> None:
    assert fair_pool_class(3) is fair_pool_class(3)
    assert fair_pool_class(3).max_waiters == 3
    with pytest.raises(ValueError, match="max_waiters"):
        fair_pool_class(-1)


def _queue(engine: AsyncEngine) -> FairQueue[Any]:
    queue = engine.pool._pool  # type: ignore[attr-defined]
    assert isinstance(queue, FairQueue)
    return queue
