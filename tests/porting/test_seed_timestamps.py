"""The seed's ``TimestampMixin`` as written, on both drivers (docs/porting.md, "Custom base model").

``Mapped[datetime]`` maps to ``TIMESTAMP WITHOUT TIME ZONE``. psycopg (the Flask stack) stores an aware
``datetime.now(timezone.utc)`` there by dropping its offset; asyncpg refuses it outright, so the seed's mixin, ported
as is, fails its first INSERT. ``service/db/mixins.py`` maps the columns ``DateTime(timezone=True)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from service.db.engine import async_url, sync_url
from service.db.mixins import TimestampMixin as ProjectTimestampMixin


class Base(DeclarativeBase):
    pass


class SeedTimestampMixin:
    """The seed's mixin, verbatim."""

    created_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))
    updated_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC), onupdate=lambda: datetime.now(UTC))


class SeedUser(SeedTimestampMixin, Base):
    __tablename__ = "seed_users"
    id: Mapped[int] = mapped_column(primary_key=True)


class ProjectUser(ProjectTimestampMixin, Base):
    __tablename__ = "project_users"
    id: Mapped[int] = mapped_column(primary_key=True)


@pytest.fixture
def sync_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(empty_database_url))
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
async def async_engine(empty_database_url: str, sync_engine: Engine) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(empty_database_url))
    yield engine
    await engine.dispose()


def test_psycopg_stores_the_seeds_timestamp_without_its_offset(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        session.add(SeedUser())
        session.commit()
        stored = session.scalars(select(SeedUser.created_at)).one()
    assert stored.tzinfo is None


async def test_asyncpg_refuses_the_seeds_timestamp(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session:
        session.add(SeedUser())
        with pytest.raises(DBAPIError, match="offset-naive and offset-aware"):
            await session.commit()


async def test_the_projects_mixin_stores_an_aware_utc_time(async_engine: AsyncEngine) -> None:
    async with AsyncSession(async_engine) as session:
        session.add(ProjectUser())
        await session.commit()
        stored = (await session.scalars(select(ProjectUser.created_at))).one()
    assert stored.utcoffset() is not None
    assert abs((datetime.now(UTC) - stored).total_seconds()) < 3600
