"""What is the extension's own on Quart: the engines' lifecycle (nothing connects before the first statement), the
app context's ``AsyncSession`` (one per context, closed at teardown with a rollback), ``db.engines`` outside an app
context, and ``expire_on_commit=False``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from quart import Quart
from sqlalchemy import exc as sa_exc

from service.quart_sqlalchemy import SQLAlchemy
from tests.quart_sqlalchemy.twins import Databases, Side, define_models, rows, running, standard_config


def quart_app(databases: dict[str, Databases], **options: Any) -> tuple[Quart, Any, Any]:
    app = Quart(__name__)
    app.config.update(standard_config(databases["quart"], "quart"))
    db = SQLAlchemy(app, **options)
    return app, db, define_models(db)


@pytest.fixture
async def side(databases: dict[str, Databases]) -> AsyncIterator[Side]:
    async with running("quart", databases["quart"], define_models) as side:
        async with side.context():
            await side.db.create_all()
        yield side


def checked_out(side: Side) -> list[int]:
    """Connections checked out of the default engine and of the ``"other"`` one."""
    return [side.db.engines[key].sync_engine.pool.checkedout() for key in (None, "other")]


async def test_engines_exist_while_serving_and_connect_only_when_used(databases: dict[str, Databases]) -> None:
    app, db, _ = quart_app(databases)
    state = db._app_state[app]
    assert state.engines is None  # init_app opened nothing
    async with app.test_app():
        engines = {key: state.engines[key] for key in (None, "other")}
        assert sorted(state.engines, key=str) == [None, "other"]
        assert [engine.sync_engine.pool.checkedin() for engine in engines.values()] == [0, 0]  # no connection yet
        async with app.app_context():
            await db.session.execute(sa.text("SELECT 1"))
            assert [engine.sync_engine.pool.checkedout() for engine in engines.values()] == [1, 0]
        assert [engine.sync_engine.pool.checkedin() for engine in engines.values()] == [1, 0]
    assert state.engines is None  # disposed at after_serving
    assert [engine.sync_engine.pool.checkedin() for engine in engines.values()] == [0, 0]
    async with app.app_context():  # a late use opens no pool that nobody would close
        with pytest.raises(RuntimeError, match="stopped serving"):
            _ = db.session
    async with app.test_app():  # served again: engines again
        assert state.engines is not None


async def test_engines_are_made_on_first_use_outside_serving(databases: dict[str, Databases]) -> None:
    """A script or a CLI command (no ``before_serving``) uses ``db`` in an app context as a Flask one would."""
    app, db, models = quart_app(databases)
    async with app.app_context():
        await db.create_all()
        db.session.add(models.Author(name="from a script"))
        await db.session.commit()
        engines = list(db.engines.values())
    for engine in engines:
        await engine.dispose()
    assert rows(databases["quart"].default, "SELECT name FROM author") == [("from a script",)]


async def test_one_session_per_app_context_closed_at_teardown(side: Side) -> None:
    async with side.context():
        session = side.db.session
        assert side.db.session is session
        side.db.session.add(side.models.Author(name="uncommitted"))
        await side.db.session.flush()
        assert checked_out(side) == [1, 0]
    assert checked_out(side) == [0, 0]
    assert rows(side.databases.default, "SELECT count(*) FROM author") == [(0,)]
    async with side.context():
        assert side.db.session is not session


async def test_concurrent_contexts_never_share_a_session(side: Side) -> None:
    both_read = asyncio.Barrier(2)

    async def one(name: str) -> Any:
        async with side.context():
            session = side.db.session
            session.add(side.models.Author(name=name))
            await session.flush()
            await asyncio.sleep(0.01)
            names = (await session.execute(sa.select(side.models.Author.name))).scalars().all()
            await both_read.wait()
            await session.commit()
            return session, names

    (first, first_names), (second, second_names) = await asyncio.gather(one("ada"), one("grace"))
    assert first is not second
    assert first_names == ["ada"]  # the other's uncommitted row is not seen
    assert second_names == ["grace"]


async def test_remove_session(side: Side) -> None:
    async with side.context():
        session = side.db.session
        session.add(side.models.Author(name="dropped"))
        await session.flush()
        await side.db.remove_session()
        assert checked_out(side) == [0, 0]
        assert side.db.session is not session
        assert (await side.db.session.execute(sa.select(sa.func.count()).select_from(side.models.Author))).scalar() == 0


async def test_attributes_read_after_commit_need_no_query(side: Side) -> None:
    """``expire_on_commit=False`` by default: with Flask-SQLAlchemy's ``True``, this read is a lazy load, which
    asyncio refuses (``MissingGreenlet``)."""
    async with side.context():
        author = side.models.Author(name="ada")
        side.db.session.add(author)
        await side.db.session.commit()
        assert author.name == "ada"
        assert author.id == 1


async def test_expire_on_commit_true_makes_a_read_after_commit_fail(databases: dict[str, Databases]) -> None:
    app, db, models = quart_app(databases, session_options={"expire_on_commit": True})
    async with app.test_app(), app.app_context():
        await db.create_all()
        author = models.Author(name="ada")
        db.session.add(author)
        await db.session.commit()
        with pytest.raises(sa_exc.MissingGreenlet):
            _ = author.name


async def test_engines_outside_an_app_context(databases: dict[str, Databases]) -> None:
    """The only app's engines (a test fixture, an ASGI wrapper); with several apps, which one is ambiguous."""
    app, db, _ = quart_app(databases)
    async with app.test_app():
        assert db.engine is db.engines[None]
        async with app.app_context():
            assert db.engines[None] is db.engine
        second = Quart(__name__)
        second.config.update(standard_config(databases["quart"], "quart"))
        db.init_app(second)
        with pytest.raises(RuntimeError, match="Working outside of application context"):
            _ = db.engines


async def test_the_session_needs_an_app_context(databases: dict[str, Databases]) -> None:
    _, db, _ = quart_app(databases)
    with pytest.raises(RuntimeError, match="app context"):
        _ = db.session


async def test_the_session_skips_the_mapper_with_one_engine(databases: dict[str, Databases]) -> None:
    """One database and no bind key: every statement goes to the engine without a look at the mapper (the service's
    hot path); with binds, each model's bind key decides."""
    app = Quart(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = standard_config(databases["quart"], "quart")["SQLALCHEMY_DATABASE_URI"]
    db = SQLAlchemy(app)
    async with app.test_app(), app.app_context():
        assert db.session.sync_session._only_engine is db.engine.sync_engine
    bound, bound_db, _ = quart_app(databases)
    async with bound.test_app(), bound.app_context():
        assert bound_db.session.sync_session._only_engine is None
