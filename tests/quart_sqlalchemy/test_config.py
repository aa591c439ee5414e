"""Configuration and set-up, on Flask-SQLAlchemy and on ours: config keys and defaults, errors, engine options and
their precedence, ``SQLALCHEMY_ECHO``, driver defaults, the ``sqlalchemy`` names on ``db``; and the arguments ours
refuses because they have no async meaning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import flask
import flask_sqlalchemy
import flask_sqlalchemy.query
import pytest
import sqlalchemy as sa
import sqlalchemy.orm as sa_orm
from quart import Quart
from sqlalchemy.engine import make_url

from service.quart_sqlalchemy import Session, SQLAlchemy
from tests.quart_sqlalchemy.twins import (
    KINDS,
    Databases,
    Side,
    aw,
    define_models,
    make_app,
    make_db,
    on_both,
    same,
    standard_config,
    url,
)

CONFIG_KEYS = [
    "SQLALCHEMY_DATABASE_URI",
    "SQLALCHEMY_ENGINE_OPTIONS",
    "SQLALCHEMY_ECHO",
    "SQLALCHEMY_BINDS",
    "SQLALCHEMY_RECORD_QUERIES",
    "SQLALCHEMY_TRACK_MODIFICATIONS",
]


def both(check: Any) -> Any:
    """``check(kind)`` on each side, which must agree."""
    return same({kind: check(kind) for kind in KINDS})


def sync_engine(engine: Any) -> sa.engine.Engine:
    return engine.sync_engine if hasattr(engine, "sync_engine") else engine  # type: ignore[no-any-return]


def test_neither_a_uri_nor_binds_is_a_runtime_error() -> None:
    def check(kind: str) -> str:
        with pytest.raises(RuntimeError) as raised:
            make_db(kind, make_app(kind))
        return str(raised.value)

    assert both(check) == "Either 'SQLALCHEMY_DATABASE_URI' or 'SQLALCHEMY_BINDS' must be set."


def test_a_second_extension_on_one_app_is_a_runtime_error() -> None:
    def check(kind: str) -> str:
        app = make_app(kind)
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://u@h/d"
        make_db(kind, app)
        with pytest.raises(RuntimeError) as raised:
            make_db(kind, app)
        return str(raised.value).replace("Flask app", "app").replace("Quart app", "app")

    assert both(check) == (
        "A 'SQLAlchemy' instance has already been registered on this app. Import and use that instance instead."
    )


def test_config_defaults_after_init_app() -> None:
    def check(kind: str) -> Any:
        app = make_app(kind)
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://u@h/d"
        db = make_db(kind, app)
        return {key: app.config[key] for key in CONFIG_KEYS}, app.extensions["sqlalchemy"] is db

    assert both(check) == (
        {
            "SQLALCHEMY_DATABASE_URI": "postgresql://u@h/d",
            "SQLALCHEMY_ENGINE_OPTIONS": {},
            "SQLALCHEMY_ECHO": False,
            "SQLALCHEMY_BINDS": {},
            "SQLALCHEMY_RECORD_QUERIES": False,
            "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        },
        True,
    )


async def test_engine_options_precedence(databases: dict[str, Databases]) -> None:
    """Constructor ``engine_options`` < ``SQLALCHEMY_ENGINE_OPTIONS`` for the default engine; a bind gets the
    constructor's, then its own dict (never ``SQLALCHEMY_ENGINE_OPTIONS``)."""

    def config(dbs: Databases, kind: str) -> dict[str, Any]:
        return {
            "SQLALCHEMY_DATABASE_URI": url(dbs, kind),
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 4},
            "SQLALCHEMY_BINDS": {
                "other": url(dbs, kind, "other"),
                "tuned": {"url": url(dbs, kind, "other"), "pool_size": 6, "max_overflow": 1},
            },
        }

    async def scenario(side: Side) -> Any:
        async with side.context():
            return {
                key: (sync_engine(engine).pool.size(), sync_engine(engine).pool._max_overflow)  # type: ignore[attr-defined]
                for key, engine in side.db.engines.items()
            }

    result = same(
        await on_both(
            databases,
            define_models,
            scenario,
            config=config,
            db_options=lambda kind: {"engine_options": {"pool_size": 3, "max_overflow": 2}},
        )
    )
    assert result == {None: (4, 2), "other": (3, 2), "tuned": (6, 1)}


async def test_sqlalchemy_echo_logs_each_statement(
    databases: dict[str, Databases], caplog: pytest.LogCaptureFixture
) -> None:
    def config(dbs: Databases, kind: str) -> dict[str, Any]:
        return {**standard_config(dbs, kind), "SQLALCHEMY_ECHO": True}

    async def scenario(side: Side) -> Any:
        caplog.clear()
        async with side.context():
            engine = sync_engine(side.db.engine)
            await aw(side.db.session.execute(sa.text("SELECT 'echoed'")))
            engine_records = [record for record in caplog.records if record.name.startswith("sqlalchemy.engine")]
            return {
                "echo": (engine.echo, engine.pool.echo),
                "logged": any("SELECT 'echoed'" in record.getMessage() for record in engine_records),
            }

    with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
        assert same(await on_both(databases, define_models, scenario, config=config)) == {
            "echo": (True, True),
            "logged": True,
        }


async def test_echo_is_off_by_default(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            engine = sync_engine(side.db.engine)
            return engine.echo, engine.pool.echo

    assert same(await on_both(databases, define_models, scenario)) == (False, False)


@pytest.mark.parametrize(
    "options",
    [
        {"url": "sqlite://"},
        {"url": "sqlite:///:memory:", "connect_args": {"timeout": 3}},
        {"url": "sqlite:///relative.db"},
        {"url": "sqlite:///file:relative.db?uri=true"},
        {"url": "sqlite:////absolute/path.db"},
        {"url": "mysql://u@h/d"},
        {"url": "mysql://u@h/d?charset=latin1", "pool_recycle": 60},
        {"url": "postgresql://u@h/d"},
    ],
)
def test_driver_defaults(options: dict[str, Any], tmp_path: Path) -> None:
    """Flask-SQLAlchemy's driver defaults (SQLite pool and paths under ``instance_path``, MySQL charset)."""

    def check(kind: str) -> Any:
        instance = tmp_path / kind
        app = (flask.Flask if kind == "flask" else Quart)(__name__, instance_path=str(instance))
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://u@h/d"
        db = make_db(kind, app)
        given = {key: (dict(value) if isinstance(value, dict) else value) for key, value in options.items()}
        db._apply_driver_defaults(given, app)
        return {
            key: (str(value).replace(str(instance), "<instance>") if key == "url" else value)
            for key, value in given.items()
        }, instance.is_dir()

    result, made_instance_dir = both(check)
    if options["url"].startswith("sqlite:///") and "/absolute" not in options["url"] and "memory" not in options["url"]:
        assert made_instance_dir
        assert "<instance>" in result["url"]


def test_a_bind_s_metadata_copies_the_default_naming_convention() -> None:
    convention = {"ix": "ix_%(column_0_label)s", "pk": "pk_%(table_name)s"}

    def check(kind: str) -> Any:
        app = make_app(kind)
        app.config.update(
            SQLALCHEMY_DATABASE_URI="postgresql://u@h/d", SQLALCHEMY_BINDS={"other": "postgresql://u@h/o"}
        )
        db = make_db(kind, app, metadata=sa.MetaData(naming_convention=convention))
        return {key: (dict(md.naming_convention), md.info) for key, md in db.metadatas.items()}

    expected = {**sa.MetaData().naming_convention, **convention}
    assert both(check) == {None: (expected, {"bind_key": None}), "other": (expected, {"bind_key": "other"})}


async def test_get_engine_is_deprecated(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        async with side.context():
            with pytest.warns(DeprecationWarning, match="'get_engine' is deprecated"):
                default = side.db.get_engine()
            with pytest.warns(DeprecationWarning, match="'get_engine' is deprecated"):
                other = side.db.get_engine(bind="other")
            return default is side.db.engine, other is side.db.engines["other"]

    assert same(await on_both(databases, define_models, scenario)) == (True, True)


async def test_repr(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        outside = repr(side.db)
        async with side.context():
            inside = repr(side.db)
        default = make_url(side.databases.default)
        for text, placeholder in ((default.database, "<db>"), (f"{default.host}:{default.port}", "<server>")):
            inside = inside.replace(str(text), placeholder)
        return outside, inside.replace("+psycopg", "+<driver>").replace("+asyncpg", "+<driver>")

    assert same(await on_both(databases, define_models, scenario)) == (
        "<SQLAlchemy>",
        "<SQLAlchemy postgresql+<driver>://postgres@<server>/<db> +1>",
    )


def test_sqlalchemy_names_on_db() -> None:
    def check(kind: str) -> Any:
        app = make_app(kind)
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://u@h/d"
        db = make_db(kind, app)
        names = {
            "Column": db.Column is sa.Column,
            "Integer": db.Integer is sa.Integer,
            "select": db.select is sa.select,
            "backref": db.backref is sa_orm.backref,
            "Mapped": db.Mapped is sa_orm.Mapped,
            "mapped_column": db.mapped_column is sa_orm.mapped_column,
            "event": db.event is sa.event,
        }
        relation = db.relation("Author")
        missing = []
        for name in ("_private", "no_such_name"):
            with pytest.raises(AttributeError):
                getattr(db, name)
            missing.append(name)
        return names, type(relation).__name__, missing

    names, relation, missing = both(check)
    assert all(names.values())
    assert relation == "_RelationshipDeclared"
    assert missing == ["_private", "no_such_name"]


async def test_the_shell_gets_db_and_every_model(databases: dict[str, Databases]) -> None:
    """``add_models_to_shell`` (default true): ``flask shell`` / ``quart shell`` see ``db`` and the model classes."""

    async def scenario(side: Side) -> Any:
        async with side.context():
            context = await aw(side.app.make_shell_context())
        return sorted(name for name in context if name not in {"app", "g"}), context["db"] is side.db

    assert same(await on_both(databases, define_models, scenario)) == (["Author", "Book", "Note", "db"], True)

    async def without(side: Side) -> Any:
        async with side.context():
            return "db" in await aw(side.app.make_shell_context())

    no_shell = await on_both(databases, define_models, without, db_options=lambda kind: {"add_models_to_shell": False})
    assert same(no_shell) is False


async def test_an_app_not_registered_with_the_extension_is_a_runtime_error(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        stranger = make_app(side.kind)
        async with Side(side.kind, stranger, side.db, None, side.databases).context():
            with pytest.raises(RuntimeError) as raised:
                _ = side.db.engines
        return str(raised.value).replace("Flask app", "app").replace("Quart app", "app")

    assert same(await on_both(databases, define_models, scenario)) == (
        "The current app is not registered with this 'SQLAlchemy' instance."
        " Did you forget to call 'init_app', or did you create multiple 'SQLAlchemy' instances?"
    )


# -- what ours refuses: no async meaning --------------------------------------------------------------------


def test_query_class_is_refused() -> None:
    with pytest.raises(TypeError, match="legacy Query has no async form"):
        SQLAlchemy(query_class=flask_sqlalchemy.query.Query)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scopefunc": lambda: 1}, "scoped to the app context"),
        ({"query_cls": object}, "legacy Query"),
        ({"class_": sa_orm.Session}, "subclass of quart_sqlalchemy.Session"),
    ],
)
def test_session_options_without_async_meaning_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        SQLAlchemy(session_options=options)


def test_db_query_and_dynamic_loader_are_refused() -> None:
    db = SQLAlchemy()
    with pytest.raises(AttributeError, match="legacy Query has no async form"):
        _ = db.Query
    with pytest.raises(TypeError, match="write_only"):
        db.dynamic_loader("Author")


def test_a_session_subclass_is_used() -> None:
    class Mine(Session):
        pass

    app = Quart(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+asyncpg://u@h/d"
    db = SQLAlchemy(app, session_options={"class_": Mine, "autoflush": False})
    session = db._session_factory(engines={})
    assert type(session.sync_session) is Mine
    assert session.sync_session.autoflush is False
    assert session.sync_session.expire_on_commit is False  # ours by default; see the README
