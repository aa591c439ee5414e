"""Trap: one session shared by concurrent tasks (docs/porting.md, trap 3).

Flask-SQLAlchemy's ``db.session`` is scoped to the app context, and in a WSGI server one request is one thread: no
two threads ever hold the same session. Under asyncio many requests share one thread, and a view may fan out with
``asyncio.gather``. The extension keeps ``db.session`` on the app context's ``g``, so two requests never share one
(``tests/integration/test_request_session.py::test_concurrent_requests_never_share_a_session``). But tasks gathered
*inside* one request copy its context: they all get the request's session, and an ``AsyncSession`` is one
connection and one transaction that concurrent tasks must not use together. Each task that needs the database
concurrently pushes an app context of its own (``async with app.app_context()``), as Quart's background tasks do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.db.models import Product, User
from service.quart_app import create_app
from tests.support.servers import checked_out


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    """A freshly started service app: its pool is empty, so a session's first statement has to connect."""
    app = create_app(settings)
    async with app.test_app():
        yield app


async def test_tasks_gathered_in_one_context_get_the_same_session(app: Quart) -> None:
    db: Any = app.extensions["sqlalchemy"]

    async def session_of_this_task() -> object:
        return db.session

    async with app.app_context():
        first, second = await asyncio.gather(session_of_this_task(), session_of_this_task())
        assert first is second is db.session


async def test_concurrent_statements_on_one_session_are_refused(app: Quart) -> None:
    db: Any = app.extensions["sqlalchemy"]
    async with app.app_context():
        # Both tasks start on a session with no connection yet: the second finds the first one connecting.
        # return_exceptions: gather would otherwise leave the first task running into the teardown's close().
        results = await asyncio.gather(
            db.session.execute(select(func.count()).select_from(User)),
            db.session.execute(select(func.count()).select_from(Product)),
            return_exceptions=True,
        )
    errors = [str(result) for result in results if isinstance(result, BaseException)]
    assert len(errors) == 1
    assert "concurrent operations are not permitted" in errors[0]
    assert checked_out(app) == 0


async def test_one_tasks_rollback_silently_undoes_the_others_commit(app: Quart, engine: AsyncEngine) -> None:
    db: Any = app.extensions["sqlalchemy"]
    a_flushed, b_rolled_back = asyncio.Event(), asyncio.Event()

    async def a() -> None:
        db.session.add(Product(name="from task a", stock=1))
        await db.session.flush()
        a_flushed.set()
        await b_rolled_back.wait()
        await db.session.commit()  # succeeds: there is nothing left to commit

    async def b() -> None:
        await a_flushed.wait()
        db.session.add(Product(name="from task b", stock=-1))
        try:
            await db.session.flush()  # the CHECK constraint refuses it
        except Exception:
            await db.session.rollback()  # b's error handling, on the transaction a's row is in
        finally:
            b_rolled_back.set()

    async with app.app_context():
        await asyncio.gather(a(), b())
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Product))).scalar_one() == 0


async def test_a_context_per_task_gives_each_its_own_session(app: Quart, engine: AsyncEngine) -> None:
    db: Any = app.extensions["sqlalchemy"]
    sessions: list[object] = []

    def in_own_context(work: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with app.app_context():  # its own g, so its own db.session, closed when the context ends
                sessions.append(db.session)
                return await work()

        return run

    async def count_users() -> int:
        return int((await db.session.execute(select(func.count()).select_from(User))).scalar_one())

    async def add_product() -> None:
        db.session.add(Product(name="from its own task", stock=1))
        await db.session.commit()

    async with app.app_context():
        request_session = db.session
        users, _ = await asyncio.gather(in_own_context(count_users)(), in_own_context(add_product)())
        assert users == 0
        assert len({id(s) for s in (*sessions, request_session)}) == 3
    assert checked_out(app) == 0
    async with engine.connect() as conn:
        names = (await conn.execute(select(Product.name))).scalars().all()
        assert names == ["from its own task"]
