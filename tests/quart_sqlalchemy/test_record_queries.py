"""``SQLALCHEMY_RECORD_QUERIES`` and ``get_recorded_queries()`` on Flask-SQLAlchemy and on ours: the same fields, the
same values where the drivers allow (psycopg and asyncpg write placeholders differently), the location in the
application's code; nothing recorded, and no listener installed, when the key is off."""

from __future__ import annotations

import dataclasses
from typing import Any

import flask_sqlalchemy.record_queries
import sqlalchemy as sa
import sqlalchemy.event as sa_event
from quart import Quart

from service.quart_sqlalchemy import SQLAlchemy, get_recorded_queries, record_queries
from tests.quart_sqlalchemy.twins import Databases, Side, aw, define_models, on_both, same, standard_config


def recording(databases: Databases, kind: str) -> dict[str, Any]:
    return {**standard_config(databases, kind), "SQLALCHEMY_RECORD_QUERIES": True}


def recorded(side: Side) -> list[Any]:
    return get_recorded_queries() if side.is_quart else flask_sqlalchemy.record_queries.get_recorded_queries()


async def test_each_query_is_recorded_with_flask_sqlalchemy_s_fields(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        m = side.models
        async with side.context():
            await aw(side.db.create_all())
        async with side.context():
            side.db.session.add(m.Author(name="ada"))
            await aw(side.db.session.commit())
        async with side.context():  # a new app context: a new list
            assert recorded(side) == []
            # One line for both sides, so that both report the same location (not through ``aw``, which would be
            # the application's innermost frame on the Quart side).
            statement = sa.select(m.Author).where(m.Author.name == "ada")
            found = (await side.db.session.execute(statement)) if side.is_quart else side.db.session.execute(statement)
            name = found.scalar_one().name
            await aw(side.db.session.execute(sa.select(m.Note)))  # the other bind: recorded too
            queries = recorded(side)
        first, second = queries
        return {
            "name": name,
            "count": len(queries),
            "fields": [field.name for field in dataclasses.fields(first)],
            "statement": " ".join(first.statement.split()).split(" WHERE ")[0],
            "other_statement": " ".join(second.statement.split()),
            "parameter_seen": "ada" in repr(first.parameters),
            "timing": first.start_time <= first.end_time and first.duration == first.end_time - first.start_time,
            "location": first.location.split(":", 1)[0].rsplit("/", 1)[1],
            "location_code": first.location.rsplit(" ", 1)[1],
            "location_line": int(first.location.split(":")[1].split(" ")[0]),
        }

    result = same(await on_both(databases, define_models, scenario, config=recording))
    assert result["count"] == 2
    assert result["fields"] == ["statement", "parameters", "start_time", "end_time", "location"]
    assert result["statement"] == "SELECT author.id, author.name FROM author"
    assert result["other_statement"] == "SELECT note.id, note.text FROM note"
    assert result["parameter_seen"] is True
    assert result["timing"] is True
    assert result["location"] == "test_record_queries.py"
    assert result["location_code"] == "(scenario)"


async def test_queries_of_a_request_are_recorded_in_its_context(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        m = side.models
        async with side.context():
            await aw(side.db.create_all())

        @side.route("/count")
        async def count() -> Any:
            await aw(side.db.session.execute(sa.select(sa.func.count()).select_from(m.Author)))
            await aw(side.db.session.execute(sa.select(sa.func.count()).select_from(m.Book)))
            return {"queries": [" ".join(query.statement.split()) for query in recorded(side)]}

        client = side.app.test_client()
        first = await aw((await aw(client.get("/count"))).get_json())
        second = await aw((await aw(client.get("/count"))).get_json())
        return first, second

    first, second = same(await on_both(databases, define_models, scenario, config=recording))
    assert (
        first
        == second
        == {"queries": ["SELECT count(*) AS count_1 FROM author", "SELECT count(*) AS count_1 FROM book"]}
    )


async def test_nothing_is_recorded_or_installed_when_the_key_is_off(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            await aw(side.db.session.execute(sa.select(side.models.Author.id).limit(0).where(sa.false())))
            engine = side.db.engine.sync_engine if side.is_quart else side.db.engine
            module = record_queries if side.is_quart else flask_sqlalchemy.record_queries
            installed = [
                sa_event.contains(engine, "before_cursor_execute", module._record_start),
                sa_event.contains(engine, "after_cursor_execute", module._record_end),
            ]
            return recorded(side), installed, side.app.config["SQLALCHEMY_RECORD_QUERIES"]

    async def create(side: Side) -> None:
        async with side.context():
            await aw(side.db.create_all())

    async def both(side: Side) -> Any:
        await create(side)
        return await scenario(side)

    assert same(await on_both(databases, define_models, both)) == ([], [False, False], False)


async def test_the_location_is_never_in_the_extension_s_own_frames(databases: dict[str, Databases]) -> None:
    """The extension may live inside the app's package (here: an app named ``service.…``, the extension in
    ``service.quart_sqlalchemy``): ``get_or_404`` is then in the app's package, but is never the location."""
    app = Quart("service.elsewhere")
    app.config.update(recording(databases["quart"], "quart"))
    db = SQLAlchemy(app)
    Author = define_models(db).Author
    async with app.test_app(), app.app_context():
        await db.create_all()
        db.session.add(Author(name="ada"))
        await db.session.commit()
        await db.get_or_404(Author, 1)
        locations = [query.location for query in get_recorded_queries()]
    assert locations
    assert not [location for location in locations if "quart_sqlalchemy" in location]
