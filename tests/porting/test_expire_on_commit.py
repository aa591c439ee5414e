"""Trap: ``expire_on_commit`` and attributes read after commit (docs/porting.md, trap 2).

Flask-SQLAlchemy keeps SQLAlchemy's default, ``expire_on_commit=True``: after ``db.session.commit()`` every loaded
attribute is expired, and the next read of ``user.name`` quietly reloads the row. Under asyncio that reload is I/O
in a plain attribute access: ``MissingGreenlet``. The service's sessions use ``expire_on_commit=False`` (both apps),
so a handler serializes what the use case committed without another round trip — and reloads explicitly, with
``await session.refresh(obj)``, when it needs what the database holds now.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import Engine, create_engine, event, update
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from service.config import Settings
from service.db.engine import sync_url
from service.db.models import User
from service.quart_app import create_app


@pytest.fixture
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """The service's app, started (its engine exists) but not serving HTTP: the CLI and test way to use ``db``."""
    app = create_app(settings)
    async with app.test_app():
        yield app


def test_flask_reloads_an_expired_attribute_behind_your_back(sync_engine: Engine) -> None:
    statements: list[str] = []
    event.listen(sync_engine, "before_cursor_execute", lambda _c, _cu, statement, *_: statements.append(statement))
    with Session(sync_engine) as session:  # expire_on_commit=True, as in Flask-SQLAlchemy
        user = User(email="ada@example.com", name="Ada")
        session.add(user)
        session.commit()
        after_commit = len(statements)
        assert user.name == "Ada"
        assert len(statements) == after_commit + 1  # the read was a SELECT


async def test_the_same_read_in_async_code_is_missing_greenlet(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:  # SQLAlchemy's default, expire_on_commit=True
        user = User(email="ada@example.com", name="Ada")
        session.add(user)
        await session.commit()
        with pytest.raises(MissingGreenlet):
            _ = user.name


async def test_the_services_session_keeps_committed_values(app: Quart, engine: AsyncEngine) -> None:
    db: Any = app.extensions["sqlalchemy"]
    async with app.app_context():
        user = User(email="ada@example.com", name="Ada")
        db.session.add(user)
        await db.session.commit()
        # Expired attributes would raise MissingGreenlet here, as above: nothing was expired.
        assert (user.name, user.role, user.is_active) == ("Ada", "member", True)

        # The price: what this session last saw, not what the database holds now.
        async with engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user.id).values(name="Ada Lovelace"))
        assert user.name == "Ada"
        await db.session.refresh(user)  # the explicit, awaited reload
        assert user.name == "Ada Lovelace"
