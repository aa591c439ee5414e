"""``db.paginate`` run by Flask-SQLAlchemy itself (a Flask app) and by the extension (a Quart app) on the same
database with the same inputs: the same outputs, 404s included. A difference is a bug in ours.

Each request's ``X-Spec`` header says what to paginate (``rows``: the statement selects items ``1..rows``;
``tagged``: joined to two tags per item, so rows repeat and ``unique()`` matters), the ``db.paginate`` keyword
arguments, and the ``prev()`` / ``next()`` calls to chain after it; the view answers every page's attributes.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import flask
import flask_sqlalchemy
import pytest
import quart
from psycopg import sql
from quart.typing import TestClientProtocol as QuartClient
from sqlalchemy import Engine, ForeignKey, Select, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import NotFound

from service.db.engine import async_url, sync_url
from service.quart_sqlalchemy import SQLAlchemy
from tests.conftest import _admin

ITEMS = 250
TAGGED = 10  # items 1..10 have two tags each


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "paged_items"
    id: Mapped[int] = mapped_column(primary_key=True)


class Tag(Base):
    __tablename__ = "paged_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey(Item.id))


def statement(spec: dict[str, Any]) -> Select[Any]:
    stmt = select(Item).where(Item.id <= spec.get("rows", 25)).order_by(Item.id)
    return stmt.join(Tag, Tag.item_id == Item.id) if spec.get("tagged") else stmt


ATTRIBUTES = ["page", "per_page", "max_per_page", "total", "first", "last", "pages"]
ATTRIBUTES += ["has_prev", "prev_num", "has_next", "next_num"]


def snapshot(p: Any) -> dict[str, Any]:
    """Every public attribute of one page (items by id), iteration and ``iter_pages`` with two sets of arguments."""
    out = {name: getattr(p, name) for name in ATTRIBUTES}
    out["items"] = [item.id for item in p.items]
    out["iterated"] = [item.id for item in p]
    out["iter_pages"] = list(p.iter_pages())
    out["iter_pages_1"] = list(p.iter_pages(left_edge=1, left_current=1, right_current=1, right_edge=1))
    return out


class StatementCounter:
    """Counts the statements an engine sends (``before_cursor_execute``): how many queries a view ran."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


def make_flask_app(url: str) -> tuple[flask.Flask, flask_sqlalchemy.SQLAlchemy]:
    app = flask.Flask(__name__)
    app.testing = True  # an exception in the view fails the test instead of becoming a 500 both apps agree on
    app.config["SQLALCHEMY_DATABASE_URI"] = sync_url(url).render_as_string(hide_password=False)
    db = flask_sqlalchemy.SQLAlchemy(app)
    with app.app_context():
        statements = StatementCounter(db.engine)

    @app.get("/page")
    def page_view() -> dict[str, Any]:
        spec = json.loads(flask.request.headers["X-Spec"])
        before = statements.count
        p = db.paginate(statement(spec), **spec.get("kwargs", {}))
        pages = [snapshot(p)]
        for method, error_out in spec.get("then", []):
            p = getattr(p, method)(error_out=error_out)
            pages.append(snapshot(p))
        return {"pages": pages, "statements": statements.count - before}

    return app, db


def make_quart_app(url: str) -> tuple[quart.Quart, SQLAlchemy]:
    app = quart.Quart(__name__)
    app.testing = True
    app.config["SQLALCHEMY_DATABASE_URI"] = async_url(url).render_as_string(hide_password=False)
    db = SQLAlchemy(app)
    statements: list[StatementCounter] = []

    @app.before_serving
    async def count_statements() -> None:
        statements.append(StatementCounter(db.engine.sync_engine))

    @app.get("/page")
    async def page_view() -> dict[str, Any]:
        spec = json.loads(quart.request.headers["X-Spec"])
        before = statements[0].count
        p = await db.paginate(statement(spec), **spec.get("kwargs", {}))
        pages = [snapshot(p)]
        for method, error_out in spec.get("then", []):
            p = await getattr(p, method)(error_out=error_out)
            pages.append(snapshot(p))
        return {"pages": pages, "statements": statements[0].count - before}

    return app, db


@dataclass
class Apps:
    flask_app: flask.Flask
    flask_db: flask_sqlalchemy.SQLAlchemy
    quart_app: quart.Quart
    quart_db: SQLAlchemy
    quart_client: QuartClient

    async def both(self, query: str = "", **spec: Any) -> tuple[Any, Any]:
        """(Flask-SQLAlchemy's answer, ours) to ``GET /page?<query>``: a status, and the pages when 200."""
        headers = {"X-Spec": json.dumps(spec)}
        path = f"/page?{query}" if query else "/page"
        theirs = self.flask_app.test_client().get(path, headers=headers)
        ours = await self.quart_client.get(path, headers=headers)
        assert {theirs.status_code, ours.status_code} <= {200, 404}
        return (
            (theirs.status_code, theirs.get_json() if theirs.status_code == 200 else None),
            (ours.status_code, await ours.get_json() if ours.status_code == 200 else None),
        )


@pytest.fixture(scope="module")
def paging_database(server_url: str) -> Iterator[str]:
    """A database of this module's own: ``paged_items`` 1..250, and two ``paged_tags`` for each of items 1..10."""
    name = f"svc_paging_{uuid.uuid4().hex[:12]}"
    _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        _admin(
            url,
            sql.SQL(
                "CREATE TABLE paged_items (id integer PRIMARY KEY);"
                "CREATE TABLE paged_tags (id serial PRIMARY KEY, item_id integer NOT NULL REFERENCES paged_items);"
                "INSERT INTO paged_items SELECT generate_series(1, {items});"
                "INSERT INTO paged_tags (item_id) SELECT i FROM generate_series(1, {tagged}) i, generate_series(1, 2);"
            ).format(items=sql.Literal(ITEMS), tagged=sql.Literal(TAGGED)),
        )
        yield url
    finally:
        _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
async def apps(paging_database: str) -> AsyncIterator[Apps]:
    """Both apps on the module's database; the Quart app serving (its engines exist between the serving hooks)."""
    flask_app, flask_db = make_flask_app(paging_database)
    quart_app, quart_db = make_quart_app(paging_database)
    try:
        async with quart_app.test_app() as serving:
            yield Apps(flask_app, flask_db, quart_app, quart_db, serving.test_client())
    finally:
        with flask_app.app_context():
            flask_db.engine.dispose()


# -- page and per_page from the query string --------------------------------------------------------------------

QUERIES = [
    "",
    "page=1",
    "page=2",
    "page=3",  # past the end of 25 rows at 20 a page
    "page=abc",
    "page=",
    "page=0",
    "page=-1",
    "page=1.5",
    "page=%2B2",  # +2
    "page=%202%20",  # " 2 "
    "page=1_0",  # Python's int() reads 10
    "page=%D9%A2",  # ARABIC-INDIC DIGIT TWO: int() reads 2
    "page=%FF",  # not UTF-8
    "page=2&page=1",  # the first value counts
    "PAGE=2",  # names are case-sensitive
    "per_page=5",
    "per_page=5&page=3",
    "per_page=7&page=4",  # a short last page
    "per_page=abc",
    "per_page=0",
    "per_page=-5",
    "per_page=1000",
    "per_page=1&page=25",
    "per_page=1&page=26",
]

# db.paginate's arguments around the query string: its defaults (no max_per_page), a max, error_out off, no count,
# and explicit page / per_page, which win over the query string's.
ARGUMENTS: list[dict[str, Any]] = [
    {},
    {"max_per_page": 10},
    {"error_out": False},
    {"error_out": False, "max_per_page": 10},
    {"count": False},
    {"page": 2},
    {"per_page": 5, "error_out": False},
]


@pytest.mark.parametrize("query", QUERIES)
async def test_request_args_as_flask_sqlalchemy(apps: Apps, query: str) -> None:
    differences = {}
    for rows, kwargs in itertools.product([0, 25], ARGUMENTS):
        theirs, ours = await apps.both(query, rows=rows, kwargs=kwargs)
        if ours != theirs:
            differences[f"rows={rows} {kwargs}"] = {"flask_sqlalchemy": theirs, "ours": ours}

    assert differences == {}


# -- page, per_page and max_per_page as arguments ----------------------------------------------------------------


@pytest.mark.parametrize("error_out", [True, False])
@pytest.mark.parametrize("max_per_page", [None, 100, 5])
async def test_arguments_as_flask_sqlalchemy(apps: Apps, max_per_page: int | None, error_out: bool) -> None:
    differences = {}
    for page, per_page in itertools.product([1, 2, 3, 13, 0, -1], [1, 7, 20, 150, 0, -3]):
        kwargs = {"page": page, "per_page": per_page, "max_per_page": max_per_page, "error_out": error_out}
        theirs, ours = await apps.both(rows=250, kwargs=kwargs)
        if ours != theirs:
            differences[f"page={page} per_page={per_page}"] = {"flask_sqlalchemy": theirs, "ours": ours}

    assert differences == {}


# -- prev() and next() --------------------------------------------------------------------------------------------

STARTS: list[dict[str, Any]] = [
    {"page": 1, "per_page": 10},
    {"page": 2, "per_page": 10},
    {"page": 3, "per_page": 10},  # the last page of 25 rows
    {"page": 2, "per_page": 10, "count": False},
    {"page": 2, "per_page": 10, "max_per_page": 4},
    {"page": 2, "per_page": 10, "max_per_page": None},
    {"page": 2, "per_page": 150, "max_per_page": None},  # prev() falls back to max_per_page=100, next() does not
    {"page": 2, "per_page": 150, "max_per_page": 120},
]
CHAINS = [
    [["next", False]] * 4,
    [["prev", False]] * 3,
    [["next", True]],
    [["next", True]] * 2,
    [["prev", True]],
    [["prev", True]] * 2,
    [["next", False], ["prev", False], ["prev", False]],
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda chain: "-".join(f"{m}{int(e)}" for m, e in chain))
async def test_prev_and_next_as_flask_sqlalchemy(apps: Apps, chain: list[list[Any]]) -> None:
    differences = {}
    for rows, start in itertools.product([25, 250], STARTS):
        theirs, ours = await apps.both(rows=rows, kwargs=start, then=chain)
        if ours != theirs:
            differences[f"rows={rows} {start}"] = {"flask_sqlalchemy": theirs, "ours": ours}

    assert differences == {}


async def test_prev_and_next_carry_total_over_and_do_not_count(apps: Apps) -> None:
    theirs, (status, body) = await apps.both(rows=25, kwargs={"page": 2, "per_page": 10}, then=[["next", False]] * 2)

    assert (status, body) == theirs
    assert body["statements"] == 2 + 1 + 1  # items and count, then one items query per next()
    pages = [(p["page"], p["items"][:1], p["total"]) for p in body["pages"]]
    assert pages == [(2, [11], 25), (3, [21], 25), (4, [], 25)]


async def test_prev_drops_max_per_page_as_flask_sqlalchemy_does(apps: Apps) -> None:
    # Flask-SQLAlchemy's prev() builds the page without max_per_page: the constructor's default of 100 applies.
    theirs, ours = await apps.both(rows=250, kwargs={"page": 2, "per_page": 150}, then=[["prev", False]])

    assert ours == theirs
    assert [(p["per_page"], p["max_per_page"]) for p in ours[1]["pages"]] == [(150, None), (100, 100)]


# -- unique(), the documented fixed cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("page", [1, 2, 3, 4, 5])
async def test_repeated_rows_are_made_unique_as_flask_sqlalchemy(apps: Apps, page: int) -> None:
    theirs, ours = await apps.both(tagged=True, rows=TAGGED, kwargs={"page": page, "per_page": 5, "error_out": False})

    assert ours == theirs
    assert ours[1]["pages"][0]["total"] == 2 * TAGGED  # the count counts rows, as Flask-SQLAlchemy's does
    assert len(set(ours[1]["pages"][0]["items"])) == len(ours[1]["pages"][0]["items"])


@pytest.mark.parametrize(
    "query", ["page=abc", "page=", "page=0", "page=-1", "per_page=abc", "per_page=0", "per_page=-1", "page=3"]
)
async def test_error_out_answers_404(apps: Apps, query: str) -> None:
    theirs, ours = await apps.both(query, rows=25)

    assert ours == theirs == (404, None)


@pytest.mark.parametrize(
    ("query", "max_per_page", "page", "per_page", "items"),
    [
        ("page=abc", None, 1, 20, 20),
        ("page=-1", None, 1, 20, 20),
        ("per_page=abc", None, 1, 20, 20),
        ("per_page=0", None, 1, 20, 20),
        ("page=3", None, 3, 20, 0),  # past the end: an empty page, no 404
        ("page=2&per_page=1000", 10, 2, 10, 10),  # held to max_per_page
    ],
)
async def test_error_out_false_falls_back(
    apps: Apps, query: str, max_per_page: int | None, page: int, per_page: int, items: int
) -> None:
    kwargs = {"error_out": False, "max_per_page": max_per_page}
    theirs, (status, body) = await apps.both(query, rows=25, kwargs=kwargs)

    assert (status, body) == theirs
    first = body["pages"][0]
    assert (first["page"], first["per_page"], len(first["items"])) == (page, per_page, items)


async def test_db_paginate_has_no_per_page_limit_by_default(apps: Apps) -> None:
    # db.paginate(max_per_page=None) as in Flask-SQLAlchemy 3.1: the query string's per_page is not held to 100.
    theirs, ours = await apps.both("per_page=150", rows=250)

    assert ours == theirs
    assert (ours[1]["pages"][0]["per_page"], len(ours[1]["pages"][0]["items"])) == (150, 150)


async def test_count_false_gives_no_total(apps: Apps) -> None:
    theirs, ours = await apps.both(rows=25, kwargs={"count": False})

    assert ours == theirs
    assert {k: ours[1]["pages"][0][k] for k in ("total", "pages", "has_next", "iter_pages")} == {
        "total": None,
        "pages": 0,
        "has_next": False,
        "iter_pages": [],
    }


# -- outside a request ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"page": 2}, {"per_page": 7, "page": 4}, {"page": 9, "error_out": False}, {"page": 9}, {"page": 0}],
)
async def test_outside_a_request_the_defaults_apply(apps: Apps, kwargs: dict[str, Any]) -> None:
    stmt = statement({"rows": 25})

    def flask_side() -> Any:
        with apps.flask_app.app_context():
            try:
                return snapshot(apps.flask_db.paginate(stmt, **kwargs))
            except NotFound:
                return "404"

    async def quart_side() -> Any:
        async with apps.quart_app.app_context():
            try:
                return snapshot(await apps.quart_db.paginate(stmt, **kwargs))
            except NotFound:
                return "404"

    theirs, ours = flask_side(), await quart_side()

    assert ours == theirs
    if not kwargs:
        assert (ours["page"], ours["per_page"], ours["items"]) == (1, 20, list(range(1, 21)))


# -- a deliberate difference ---------------------------------------------------------------------------------------

HUGE_PAGE = 10**20  # (page - 1) * per_page is past PostgreSQL's bigint OFFSET


async def test_a_page_past_postgresql_s_offset_range_is_an_empty_page_not_a_500(apps: Apps) -> None:
    """Flask-SQLAlchemy sends the OFFSET as computed and PostgreSQL refuses it (a ``DataError``, a 500); ours holds the
    offset to a bigint, so the page is past the end like any other: a 404 with ``error_out``, else an empty page."""
    spec = {"rows": 25, "kwargs": {"error_out": False}}
    with pytest.raises(DataError):
        apps.flask_app.test_client().get(f"/page?page={HUGE_PAGE}", headers={"X-Spec": json.dumps(spec)})

    refused = await apps.quart_client.get(f"/page?page={HUGE_PAGE}", headers={"X-Spec": json.dumps({"rows": 25})})
    empty = await apps.quart_client.get(f"/page?page={HUGE_PAGE}", headers={"X-Spec": json.dumps(spec)})

    assert refused.status_code == 404
    assert empty.status_code == 200
    page = (await empty.get_json())["pages"][0]
    assert (page["page"], page["items"], page["total"], page["has_next"]) == (HUGE_PAGE, [], 25, False)
