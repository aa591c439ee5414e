"""A connection pool that hands connections out first come, first served, and says so when its queue is full.

SQLAlchemy's async pool waits on an ``asyncio.Queue``, which is not fair under load: a returned connection wakes
the longest waiter, but a request arriving in the meantime finds the queue non-empty and takes the connection
first ("barging"); the woken waiter finds it empty again and queues anew *at the back*. With more requests than
connections, a few requests lose that race again and again: at c = 256 on a pool of 80 their p99 was 5-6x the
p50 (issue #14). :class:`FairQueue` hands a returned connection straight to the oldest waiter, and nobody takes
one past a waiter.

A pool that cannot serve a request soon should say so rather than keep it waiting: with ``max_waiters`` set, a
checkout that would queue behind that many others fails at once with SQLAlchemy's pool ``TimeoutError``, which the
service answers 503 + ``Retry-After`` (as it does a checkout that waited ``pool_timeout`` in vain).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty

T = TypeVar("T")


class FairQueue(AsyncAdaptedQueue[T]):
    """``AsyncAdaptedQueue`` with first-come-first-served hand-off and an optional bound on its waiters."""

    max_waiters = 0  # 0: no bound

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        super().__init__(maxsize, use_lifo)
        self._waiters: deque[asyncio.Future[T]] = deque()

    def waiting(self) -> int:
        """How many checkouts are queued (a waiter leaves when served, or when its task sees its timeout or cancel)."""
        return len(self._waiters)

    def put_nowait(self, item: T) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            # A waiter cancelled or timed out a moment ago is done but still queued until its task runs again.
            if not waiter.done():
                waiter.set_result(item)
                return
        super().put_nowait(item)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if not self._waiters:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        if not block or (self.max_waiters and len(self._waiters) >= self.max_waiters):
            raise Empty()
        return await_only(self._wait(timeout))

    async def _wait(self, patience: float | None) -> T:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_later(patience, _expire, waiter) if patience is not None else None
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a connection in the same instant this checkout was cancelled: pass it on, never drop it.
                self.put_nowait(waiter.result())
            else:
                with contextlib.suppress(ValueError):  # put_nowait may have dropped it already
                    self._waiters.remove(waiter)
            raise
        finally:
            if expiry is not None:
                expiry.cancel()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():  # not served in time, and still queued
        waiter.set_exception(Empty())  # the pool turns it into its TimeoutError after pool_timeout


class FairPool(AsyncAdaptedQueuePool):
    """``AsyncAdaptedQueuePool`` on a :class:`FairQueue` (the ``poolclass`` of the service's async engines)."""

    _queue_class = FairQueue[ConnectionPoolEntry]
    max_waiters = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool.max_waiters = self.max_waiters  # type: ignore[attr-defined]


@functools.cache
def fair_pool_class(max_waiters: int) -> type[FairPool]:
    """A :class:`FairPool` whose queue refuses a checkout behind ``max_waiters`` others (0: no bound).

    A class, not an argument: ``create_engine`` passes a pool only the arguments it knows, and ``Pool.recreate``
    (``engine.dispose()``) builds the new pool from ``self.__class__``.
    """
    if max_waiters < 0:
        raise ValueError("max_waiters must be 0 (no bound) or more")
    return type(f"FairPool{max_waiters}", (FairPool,), {"max_waiters": max_waiters})
