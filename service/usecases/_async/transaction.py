"""Run a unit of work with the optimistic-lock retry policy."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from service.errors import Conflict
from service.retry import RetryObserver, RetryPolicy, is_retryable
from service.usecases.work import AsyncWork

T = TypeVar("T")


async def run_with_retry(
    session: AsyncSession, work: AsyncWork[T], policy: RetryPolicy, observer: RetryObserver | None = None
) -> T:
    """Run ``work`` and commit; on a lost version race (or 40001/40P01) roll back and run it again from scratch.

    Each attempt starts with an empty identity map, so ``work`` re-reads every row (``FOR UPDATE`` when the
    policy says so: ``work`` gets that as its argument). The request's own session is
    reused rather than a second one opened: a retry must not need a second pooled connection while it holds one.
    After ``policy.attempts`` losses the answer is :class:`Conflict` ``"conflict"``.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            result = await work(policy.lock_rows(attempt))
            await session.commit()
            return result
        except Exception as exc:
            if not is_retryable(exc):
                raise
            await session.rollback()
            session.expunge_all()
            if attempt == policy.attempts:
                if observer is not None:
                    observer.gave_up()
                raise Conflict("conflict") from None
            if observer is not None:
                observer.retried()
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
