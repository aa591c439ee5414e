"""Binds on real PostgreSQL, on Flask-SQLAlchemy and on ours: ``__bind_key__`` and ``db.Table(bind_key=...)``, one
session reading and writing both databases and committing both, ``create_all`` / ``drop_all`` / ``reflect`` per
bind key, and the errors for a bind key that is not configured."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from tests.quart_sqlalchemy.twins import (
    Databases,
    Side,
    aw,
    define_models,
    execute,
    on_both,
    rows,
    same,
    standard_config,
    tables,
)

BOTH_TABLES = {"default": ["author", "book"], "other": ["audit", "note"]}


def database_tables(side: Side) -> dict[str, list[str]]:
    return {"default": tables(side.databases.default), "other": tables(side.databases.other)}


async def test_create_all_creates_each_bind_s_tables_in_its_database(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            await aw(side.db.create_all())
        return database_tables(side)

    assert same(await on_both(databases, define_models, scenario)) == BOTH_TABLES


@pytest.mark.parametrize(
    ("bind_key", "expected"),
    [
        (None, {"default": ["author", "book"], "other": []}),
        ("other", {"default": [], "other": ["audit", "note"]}),
        ([None, "other"], BOTH_TABLES),
        ([], {"default": [], "other": []}),
    ],
)
async def test_create_all_for_some_bind_keys(
    databases: dict[str, Databases], bind_key: Any, expected: dict[str, list[str]]
) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            await aw(side.db.create_all(bind_key=bind_key))
        return database_tables(side)

    assert same(await on_both(databases, define_models, scenario)) == expected


@pytest.mark.parametrize(
    ("bind_key", "expected"),
    [
        ("__all__", {"default": [], "other": []}),
        (None, {"default": [], "other": ["audit", "note"]}),
        ("other", {"default": ["author", "book"], "other": []}),
    ],
)
async def test_drop_all_for_some_bind_keys(
    databases: dict[str, Databases], bind_key: Any, expected: dict[str, list[str]]
) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            await aw(side.db.create_all())
            await aw(side.db.drop_all(bind_key=bind_key))
        return database_tables(side)

    assert same(await on_both(databases, define_models, scenario)) == expected


async def test_reflect_loads_each_bind_s_tables_into_its_metadata(databases: dict[str, Databases]) -> None:
    def no_models(db: Any) -> None:
        return None

    async def scenario(side: Side) -> Any:
        for url, statement in (
            (side.databases.default, "CREATE TABLE legacy_users (id serial PRIMARY KEY, email text NOT NULL)"),
            (side.databases.other, "CREATE TABLE legacy_events (id serial PRIMARY KEY, at timestamptz)"),
        ):
            execute(url, statement)
        async with side.context():
            await aw(side.db.reflect(bind_key="other"))
            only_other = {key: sorted(metadata.tables) for key, metadata in side.db.metadatas.items()}
            await aw(side.db.reflect())
            users = side.db.metadatas[None].tables["legacy_users"]
        return {
            "only_other": only_other,
            "all": {key: sorted(metadata.tables) for key, metadata in side.db.metadatas.items()},
            "columns": [(column.name, column.primary_key, column.nullable) for column in users.columns],
        }

    assert same(await on_both(databases, no_models, scenario)) == {
        "only_other": {None: [], "other": ["legacy_events"]},
        "all": {None: ["legacy_users"], "other": ["legacy_events"]},
        "columns": [("id", True, False), ("email", False, False)],
    }


async def test_one_session_writes_both_databases_and_commits_both(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        m = side.models
        async with side.context():
            await aw(side.db.create_all())
        async with side.context():
            session = side.db.session
            session.add_all([m.Author(name="ada"), m.Note(text="on the other database")])
            await aw(session.execute(sa.insert(m.audit).values(what="audited")))  # DML: its table's bind
            await aw(session.commit())
            # Read back through the same session: each model's statement went to its database.
            seen = {
                "authors": (await aw(session.execute(sa.select(m.Author.name)))).scalars().all(),
                "notes": (await aw(session.execute(sa.select(m.Note)))).scalars().one().text,
            }
        behind = {
            "default": rows(side.databases.default, "SELECT name FROM author"),
            "other": rows(side.databases.other, "SELECT text FROM note UNION ALL SELECT what FROM audit"),
        }
        return seen, behind

    seen, behind = same(await on_both(databases, define_models, scenario))
    assert seen == {"authors": ["ada"], "notes": "on the other database"}
    assert behind == {"default": [("ada",)], "other": [("on the other database",), ("audited",)]}


async def test_a_core_select_of_a_bind_s_table_goes_to_the_default_database(databases: dict[str, Databases]) -> None:
    """Flask-SQLAlchemy chooses the bind from the mapper, or from a DML statement's table: a Core ``select()`` of a
    ``db.Table(bind_key=...)`` has neither, so it runs on the default database. Ours does the same."""

    async def scenario(side: Side) -> Any:
        async with side.context():
            await aw(side.db.create_all())
        async with side.context():
            await aw(side.db.session.execute(sa.insert(side.models.audit).values(what="audited")))
            await aw(side.db.session.commit())
            with pytest.raises(sa_exc.ProgrammingError) as raised:
                await aw(side.db.session.execute(sa.select(side.models.audit.c.what)))
            await aw(side.db.session.rollback())
            # The way out on both: name the engine (ours takes the AsyncEngine's sync_engine, as Session.get_bind).
            other = side.db.engines["other"]
            bind = other.sync_engine if side.is_quart else other
            statement = sa.select(side.models.audit.c.what)
            found = await aw(side.db.session.execute(statement, bind_arguments={"bind": bind}))
            return raised.value.orig.sqlstate, found.scalars().all()  # type: ignore[union-attr]

    assert same(await on_both(databases, define_models, scenario)) == ("42P01", ["audited"])  # 42P01: no such table


async def test_uncommitted_work_on_both_databases_is_rolled_back_at_teardown(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        m = side.models
        async with side.context():
            await aw(side.db.create_all())
        async with side.context():
            side.db.session.add_all([m.Author(name="ada"), m.Note(text="never")])
            await aw(side.db.session.flush())  # both INSERTs reached their database, inside a transaction
            flushed = {
                "default": rows(side.databases.default, "SELECT count(*) FROM author"),
                "other": rows(side.databases.other, "SELECT count(*) FROM note"),
            }
        after = {
            "default": rows(side.databases.default, "SELECT count(*) FROM author"),
            "other": rows(side.databases.other, "SELECT count(*) FROM note"),
            "checked_out": [engine.pool.checkedout() for engine in await engines(side)],
        }
        return flushed, after

    flushed, after = same(await on_both(databases, define_models, scenario))
    assert flushed == {"default": [(0,)], "other": [(0,)]}  # not visible outside the transaction
    assert after == {"default": [(0,)], "other": [(0,)], "checked_out": [0, 0]}


async def engines(side: Side) -> list[Any]:
    async with side.context():
        return [side.db.engines[key] for key in (None, "other")]


async def test_a_request_s_session_commits_both_databases(databases: dict[str, Databases]) -> None:
    """The same through real requests of each app's test client."""

    async def scenario(side: Side) -> Any:
        m = side.models
        async with side.context():
            await aw(side.db.create_all())

        @side.route("/write", methods=["POST"])
        async def write() -> Any:
            session = side.db.session
            session.add_all([m.Author(name="ada"), m.Note(text="hello")])
            await aw(session.commit())
            return {"same_session": side.db.session is session}

        response = await aw(side.app.test_client().post("/write"))
        return (
            response.status_code,
            await aw(response.get_json()),
            rows(side.databases.default, "SELECT name FROM author"),
            rows(side.databases.other, "SELECT text FROM note"),
        )

    assert same(await on_both(databases, define_models, scenario)) == (
        200,
        {"same_session": True},
        [("ada",)],
        [("hello",)],
    )


async def test_engines_are_one_per_bind_key(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            engines = side.db.engines
            return {
                "keys": sorted(engines, key=str),
                "engine_is_default": side.db.engine is engines[None],
                "metadatas": {key: metadata.info["bind_key"] for key, metadata in side.db.metadatas.items()},
            }

    result = same(await on_both(databases, define_models, scenario))
    assert result["keys"] == [None, "other"]
    assert result["engine_is_default"] is True
    assert result["metadatas"] == {None: None, "other": "other"}


async def test_each_engine_is_on_its_own_database(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            return [
                (side.db.engines[None].url.database, side.db.engines["other"].url.database),
                (side.databases.default.rsplit("/", 1)[1], side.databases.other.rsplit("/", 1)[1]),
            ]

    for configured, expected in (await on_both(databases, define_models, scenario)).values():
        assert configured == expected


async def test_a_model_of_an_unconfigured_bind_key_fails_to_query(databases: dict[str, Databases]) -> None:
    def models(db: Any) -> Any:
        class Stray(db.Model):
            __bind_key__ = "missing"
            id = db.Column(db.Integer, primary_key=True)

        return Stray

    async def scenario(side: Side) -> Any:
        async with side.context():
            with pytest.raises(sa_exc.UnboundExecutionError) as raised:
                await aw(side.db.session.execute(sa.select(side.models)))
            with pytest.raises(sa_exc.UnboundExecutionError) as raised_create:
                await aw(side.db.create_all(bind_key="missing"))
        return str(raised.value), str(raised_create.value)

    assert same(await on_both(databases, models, scenario)) == (
        "Bind key 'missing' is not in 'SQLALCHEMY_BINDS' config.",
        "Bind key 'missing' is not in 'SQLALCHEMY_BINDS' config.",
    )


async def test_only_binds_no_default_database(databases: dict[str, Databases]) -> None:
    """``SQLALCHEMY_BINDS`` without ``SQLALCHEMY_DATABASE_URI``: the default bind's operations fail the same way."""

    def only_other(dbs: Databases, kind: str) -> dict[str, Any]:
        config = standard_config(dbs, kind)
        del config["SQLALCHEMY_DATABASE_URI"]
        return config

    async def scenario(side: Side) -> Any:
        async with side.context():
            with pytest.raises(sa_exc.UnboundExecutionError) as raised:
                await aw(side.db.create_all(bind_key=None))
            await aw(side.db.create_all(bind_key="other"))
            keys = sorted(side.db.engines, key=str)
        return str(raised.value), keys, tables(side.databases.other)

    assert same(await on_both(databases, define_models, scenario, config=only_other)) == (
        "'SQLALCHEMY_DATABASE_URI' config is not set. Bind key 'None' is not in 'SQLALCHEMY_BINDS' config.",
        ["other"],
        ["audit", "note"],
    )


async def test_a_text_statement_goes_to_the_default_database(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            return (await aw(side.db.session.execute(sa.text("SELECT current_database()")))).scalar_one()

    results = await on_both(databases, define_models, scenario)
    for kind, name in results.items():
        assert name == databases[kind].default.rsplit("/", 1)[1]
