"""The version-conflict retry on real PostgreSQL: a conflict is forced by a second writer between the read and
the UPDATE, then counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from service.db.models import Product
from service.errors import Conflict
from service.retry import RetryPolicy
from service.usecases._async.products import reserve_stock


@dataclass
class Counting:
    retries: int = 0
    losses: int = 0

    def retried(self) -> None:
        self.retries += 1

    def gave_up(self) -> None:
        self.losses += 1


@pytest.fixture
async def product_id(engine: AsyncEngine) -> int:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        product = Product(name="hot", stock=10)
        session.add(product)
        await session.commit()
        return product.id


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


def _interfere(session: AsyncSession, engine: AsyncEngine, times: int) -> list[int]:
    """Before each of the first ``times`` flushes, another connection bumps the product's version and commits."""
    bumps: list[int] = []
    sync_engine = engine.sync_engine

    @event.listens_for(session.sync_session, "before_flush")
    def bump(flush_session: Session, *_: object) -> None:
        if len(bumps) >= times:
            return
        # A second connection (run through the sync facade of the same async engine's pool, in this greenlet).
        with sync_engine.begin() as conn:
            conn.execute(update(Product).values(version_id=Product.version_id + 1, stock=Product.stock - 1))
        bumps.append(1)

    return bumps


async def test_a_forced_conflict_is_retried_and_counted(
    session: AsyncSession, engine: AsyncEngine, product_id: int
) -> None:
    bumps = _interfere(session, engine, times=1)
    observer = Counting()
    policy = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.005)
    product = await reserve_stock(session, product_id, 2, policy, observer)
    assert bumps == [1]
    assert observer.retries == 1  # the first attempt lost, the second won
    assert observer.losses == 0
    async with engine.connect() as conn:
        stock, version = (await conn.execute(select(Product.stock, Product.version_id))).one()
    # Both writes landed: the interferer's (-1, version 2) and the retried reservation's (-2, version 3).
    assert (stock, version) == (7, 3)
    assert (product.stock, product.version_id) == (7, 3)


async def test_losing_every_attempt_is_a_conflict(session: AsyncSession, engine: AsyncEngine, product_id: int) -> None:
    # Without the FOR UPDATE escalation the interferer can win every round.
    bumps = _interfere(session, engine, times=100)
    observer = Counting()
    policy = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.005, lock_on_retry=False)
    with pytest.raises(Conflict, match=r"^conflict$"):
        await reserve_stock(session, product_id, 1, policy, observer)
    assert len(bumps) == 3
    assert (observer.retries, observer.losses) == (2, 1)
    async with engine.connect() as conn:
        stock, version = (await conn.execute(select(Product.stock, Product.version_id))).one()
    assert (stock, version) == (7, 4)  # only the interferer's three writes landed


async def test_insufficient_stock_is_not_retried(session: AsyncSession, product_id: int) -> None:
    observer = Counting()
    with pytest.raises(Conflict, match="insufficient stock"):
        await reserve_stock(session, product_id, 11, RetryPolicy(), observer)
    assert observer.retries == 0
