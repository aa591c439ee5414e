"""One scenario, run on Flask-SQLAlchemy itself (a Flask app) and on the extension (a Quart app).

Both apps get the same config (only the driver differs: psycopg for Flask, asyncpg for Quart), the same models
(``define(db)`` builds them on each ``db.Model``) and databases of their own: a default one and an ``"other"`` bind,
on the test server. A scenario is written once: ``await aw(x)`` awaits what the Quart side returns and passes the
Flask side's value through, so ``await aw(db.session.commit())`` is a commit on both.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import flask
import flask_sqlalchemy
import psycopg
import quart
from sqlalchemy.engine import make_url

from service.quart_sqlalchemy import SQLAlchemy

KINDS = ("flask", "quart")
DRIVERS = {"flask": "postgresql+psycopg", "quart": "postgresql+asyncpg"}


@dataclass(frozen=True)
class Databases:
    """One side's two databases, as plain ``postgresql://`` URLs."""

    default: str
    other: str


@dataclass
class Side:
    """One app under test: its kind, app, ``db``, the models ``define`` built, and its databases."""

    kind: str
    app: Any
    db: Any
    models: Any
    databases: Databases

    @asynccontextmanager
    async def context(self) -> AsyncIterator[None]:
        """The app context (Flask's is sync, Quart's async)."""
        if self.kind == "flask":
            with self.app.app_context():
                yield
        else:
            async with self.app.app_context():
                yield

    @property
    def is_quart(self) -> bool:
        return self.kind == "quart"

    def route(self, rule: str, **options: Any) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        """Register a view written once as ``async def`` (with ``aw``): as is on Quart, run to its end on Flask."""

        def register(view: Callable[..., Awaitable[Any]]) -> Any:
            if self.is_quart:
                self.app.add_url_rule(rule, view_func=view, **options)
            else:
                self.app.add_url_rule(rule, view.__name__, lambda **kwargs: run_sync(view(**kwargs)), **options)
            return view

        return register


async def aw(value: Any) -> Any:
    """``await value`` on the Quart side; the Flask side's value as is."""
    return await value if inspect.isawaitable(value) else value


def run_sync(awaitable: Awaitable[Any]) -> Any:
    """Run a scenario coroutine on the Flask side: ``aw`` never suspends there, so one step runs it to its end."""
    coroutine = cast(Coroutine[Any, Any, Any], awaitable)
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("a Flask-side scenario awaited something real")


def url(databases: Databases, kind: str, which: str = "default") -> str:
    """A database's URL with the side's driver."""
    plain = databases.default if which == "default" else databases.other
    return make_url(plain).set(drivername=DRIVERS[kind]).render_as_string(hide_password=False)


def standard_config(databases: Databases, kind: str) -> dict[str, Any]:
    """The default database and the ``"other"`` bind."""
    return {
        "SQLALCHEMY_DATABASE_URI": url(databases, kind),
        "SQLALCHEMY_BINDS": {"other": url(databases, kind, "other")},
    }


def make_app(kind: str) -> Any:
    # Named after this module: SQLALCHEMY_RECORD_QUERIES' ``location`` looks for frames of the app's package.
    return flask.Flask(__name__) if kind == "flask" else quart.Quart(__name__)


def make_db(kind: str, app: Any, **options: Any) -> Any:
    return flask_sqlalchemy.SQLAlchemy(app, **options) if kind == "flask" else SQLAlchemy(app, **options)


@asynccontextmanager
async def running(
    kind: str,
    databases: Databases,
    define: Callable[[Any], Any],
    *,
    config: Callable[[Databases, str], dict[str, Any]] = standard_config,
    db_options: Callable[[str], dict[str, Any]] | None = None,
) -> AsyncIterator[Side]:
    """A started app of ``kind`` (the Quart one between its startup and shutdown); engines disposed afterwards."""
    app = make_app(kind)
    app.config.update(config(databases, kind))
    db = make_db(kind, app, **(db_options(kind) if db_options else {}))
    side = Side(kind, app, db, define(db), databases)
    if kind == "flask":
        try:
            yield side
        finally:
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()
    else:
        async with app.test_app():
            yield side


async def on_both(
    databases: dict[str, Databases],
    define: Callable[[Any], Any],
    scenario: Callable[[Side], Awaitable[Any]],
    **options: Any,
) -> dict[str, Any]:
    """``scenario``'s result on each side, by kind."""
    results: dict[str, Any] = {}
    for kind in KINDS:
        async with running(kind, databases[kind], define, **options) as side:
            results[kind] = await scenario(side)
    return results


def same(results: dict[str, Any]) -> Any:
    """The result both sides agree on (the test fails, showing both, where they differ)."""
    assert results["quart"] == results["flask"], f"Flask-SQLAlchemy: {results['flask']!r}\nours: {results['quart']!r}"
    return results["flask"]


@contextmanager
def plain_connection(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of its own to one database (autocommit), to look behind the apps' backs."""
    with psycopg.connect(make_url(database_url).render_as_string(hide_password=False), autocommit=True) as conn:
        yield conn


def rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with plain_connection(database_url) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def execute(database_url: str, statement: str) -> None:
    with plain_connection(database_url) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def tables(database_url: str) -> list[str]:
    """The tables of the ``public`` schema."""
    found = rows(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    return [name for (name,) in found]


def define_models(db: Any) -> Any:
    """Two models on the default bind (autonamed ``author``, and ``book``), one on the ``"other"`` bind
    (``__bind_key__``) and a ``db.Table`` on it (``bind_key=``)."""

    class Author(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50), nullable=False, unique=True)

    class Book(db.Model):
        id = db.Column(db.Integer, primary_key=True)
        title = db.Column(db.String(50), nullable=False)
        author_id = db.Column(db.ForeignKey(Author.id))

    class Note(db.Model):
        __bind_key__ = "other"
        id = db.Column(db.Integer, primary_key=True)
        text = db.Column(db.String(50), nullable=False)

    audit = db.Table(
        "audit",
        db.Column("id", db.Integer, primary_key=True),
        db.Column("what", db.String(50)),
        bind_key="other",
    )

    return SimpleNamespace(Author=Author, Book=Book, Note=Note, audit=audit)
