"""Two smaller traps of the move (docs/porting.md, "Smaller traps"): event listeners on the async objects, and a
session method that became a coroutine called without ``await``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.db.models import Product
from service.db.soft_delete import filter_soft_deleted
from service.quart_app import create_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        yield app


async def test_listeners_go_on_the_sync_objects_under_the_async_ones(app: Quart) -> None:
    db: Any = app.extensions["sqlalchemy"]
    seen: list[str] = []

    def before_cursor_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    # The seed's @event.listens_for(db.engine, ...) and @event.listens_for(db.session, ...), as written for Flask:
    with pytest.raises(NotImplementedError, match="sync_engine"):
        event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    async with app.app_context():
        with pytest.raises(NotImplementedError, match="sync_session"):
            event.listen(db.session, "do_orm_execute", filter_soft_deleted)

        event.listen(db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)
        try:
            await db.session.execute(select(func.count()).select_from(Product))
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", before_cursor_execute)
        assert any("FROM products" in statement for statement in seen)
        # Session events live on the sync session class the AsyncSession runs on (session_options["class_"]).
        assert event.contains(type(db.session.sync_session), "do_orm_execute", filter_soft_deleted)


async def test_a_coroutine_method_called_without_await_does_nothing(app: Quart, engine: AsyncEngine) -> None:
    db: Any = app.extensions["sqlalchemy"]
    async with app.app_context():
        product = Product(name="kept", stock=1)
        db.session.add(product)  # add() is not a coroutine: no await, as in Flask
        await db.session.commit()
        with pytest.warns(RuntimeWarning, match="was never awaited"):
            db.session.delete(product)  # a coroutine in AsyncSession: made, dropped, never run
        await db.session.commit()
    async with engine.connect() as conn:
        assert (await conn.execute(select(Product.name))).scalars().all() == ["kept"]
