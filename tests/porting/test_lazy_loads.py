"""Trap: a lazy load in async code (docs/porting.md, trap 1).

In Flask-SQLAlchemy, ``user.notifications`` on a loaded user quietly runs a SELECT. Under asyncio the same
attribute access is a plain (non-awaited) expression, so SQLAlchemy cannot do I/O there: ``MissingGreenlet``.
This project maps every relationship ``lazy="raise"`` (``tests/unit/test_no_lazy_loads.py`` holds every mapper to
it), which turns the latent ``MissingGreenlet`` into an immediate, explicit error on both stacks, and loads what a
handler needs eagerly (``selectinload``).

The project's models say ``lazy="raise"``; ``lazyload(...)`` below puts back SQLAlchemy's default (``"select"``),
which is what a model ported as it was written for Flask-SQLAlchemy has.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, lazyload, selectinload

from service.db.engine import sync_url
from service.db.models import SMSNotification, User


@pytest.fixture
async def user_id(engine: AsyncEngine) -> int:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = User(email="ada@example.com", name="Ada")
        session.add(user)
        await session.flush()
        session.add(SMSNotification(message="hello", phone_number="+4412", user_id=user.id))
        await session.commit()
        return user.id


@pytest.fixture
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


def test_flask_style_code_lazy_loads_without_a_word(sync_engine: Engine, user_id: int) -> None:
    statements: list[str] = []
    event.listen(sync_engine, "before_cursor_execute", lambda _c, _cu, statement, *_: statements.append(statement))
    with Session(sync_engine) as session:
        stmt = select(User).where(User.id == user_id).options(lazyload(User.notifications))
        user = session.scalars(stmt).one()
        before = len(statements)
        assert [n.message for n in user.notifications] == ["hello"]
        assert len(statements) == before + 1  # the attribute access ran a SELECT of its own


async def test_the_same_access_in_async_code_is_missing_greenlet(engine: AsyncEngine, user_id: int) -> None:
    async with AsyncSession(engine) as session:
        stmt = select(User).where(User.id == user_id).options(lazyload(User.notifications))
        user = (await session.scalars(stmt)).one()
        with pytest.raises(MissingGreenlet):
            _ = user.notifications


async def test_lazy_raise_fails_at_once_and_eager_loading_works(engine: AsyncEngine, user_id: int) -> None:
    async with AsyncSession(engine) as session:
        user = (await session.scalars(select(User).where(User.id == user_id))).one()
        # The project's mapping: an explicit error naming the relationship, in sync code as in async code.
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = user.notifications
    async with AsyncSession(engine) as session:
        stmt = select(User).where(User.id == user_id).options(selectinload(User.notifications))
        user = (await session.scalars(stmt)).one()
        assert [n.message for n in user.notifications] == ["hello"]  # loaded with the user: no I/O here


def test_lazy_raise_fails_in_sync_code_too(sync_engine: Engine, user_id: int) -> None:
    # So the twin's tests (and any sync test of a ported model) catch a missing eager load as well.
    with Session(sync_engine) as session:
        user = session.scalars(select(User).where(User.id == user_id)).one()
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = user.notifications
