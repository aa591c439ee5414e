"""GET and HEAD requests get a read-only session in autocommit, on both apps (``service.db.read_only``).

No ``BEGIN``/``ROLLBACK`` around a read; and a handler bug that writes from a GET fails loudly, leaving nothing
behind — so "uncommitted work is discarded" still holds for every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.db.models import Product
from tests.conftest import make_settings
from tests.support.servers import LiveServer, checked_out, serve_flask, serve_quart

TWO_TXIDS = text("SELECT txid_current()")


def _quart_routes(app: Any) -> None:
    from quart import jsonify

    db = app.extensions["sqlalchemy"]

    async def txids() -> Any:
        first = (await db.session.execute(TWO_TXIDS)).scalar_one()
        second = (await db.session.execute(TWO_TXIDS)).scalar_one()
        return jsonify(read_only=db.session.info.get("read_only", False), same=first == second)

    async def add() -> Any:
        db.session.add(Product(name="from-a-get", stock=1))
        await db.session.flush()
        return jsonify(flushed=True)

    async def bulk_update() -> Any:
        await db.session.execute(update(Product).values(stock=0))
        return jsonify(updated=True)

    app.add_url_rule("/_t/txids", view_func=txids, methods=["GET", "POST"])
    app.add_url_rule("/_t/add", view_func=add, methods=["GET"])
    app.add_url_rule("/_t/update", view_func=bulk_update, methods=["GET"])


def _flask_routes(app: Any) -> None:
    from flask import jsonify

    db = app.extensions["sqlalchemy"]

    def txids() -> Any:
        first = db.session.execute(TWO_TXIDS).scalar_one()
        second = db.session.execute(TWO_TXIDS).scalar_one()
        return jsonify(read_only=db.session.info.get("read_only", False), same=first == second)

    def add() -> Any:
        db.session.add(Product(name="from-a-get", stock=1))
        db.session.flush()
        return jsonify(flushed=True)

    def bulk_update() -> Any:
        db.session.execute(update(Product).values(stock=0))
        return jsonify(updated=True)

    app.add_url_rule("/_t/txids", view_func=txids, methods=["GET", "POST"])
    app.add_url_rule("/_t/add", view_func=add, methods=["GET"])
    app.add_url_rule("/_t/update", view_func=bulk_update, methods=["GET"])


SERVERS: dict[str, tuple[Callable[..., Any], Callable[[Any], None]]] = {
    "quart": (serve_quart, _quart_routes),
    "flask": (serve_flask, _flask_routes),
}


@pytest.fixture(params=sorted(SERVERS))
async def server(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[LiveServer]:
    serve, routes = SERVERS[request.param]
    async with serve(settings, configure=routes) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield client


async def test_a_get_runs_each_statement_in_its_own_transaction(http: httpx.AsyncClient, server: LiveServer) -> None:
    # Two statements of one GET: two transactions (autocommit). Of one POST: one transaction, as before.
    assert (await http.get("/_t/txids")).json() == {"read_only": True, "same": False}
    assert (await http.post("/_t/txids")).json() == {"read_only": False, "same": True}
    assert checked_out(server.app) == 0


@pytest.mark.parametrize("kind", sorted(SERVERS))
async def test_the_pgbouncer_transaction_setting_keeps_a_read_in_one_transaction(database_url: str, kind: str) -> None:
    # A setting check, straight to PostgreSQL: with DB_PGBOUNCER=transaction a read-only session keeps its guard
    # but not autocommit, because PgBouncer (transaction mode) may route a statement's prepare and execute to two
    # server connections when they are not in one transaction. The service through a real PgBouncer, with and
    # without the setting, is tests/reliability/test_pgbouncer.py.
    serve, routes = SERVERS[kind]
    async with serve(make_settings(database_url, pgbouncer="transaction"), configure=routes) as live:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
            assert (await http.get("/_t/txids")).json() == {"read_only": True, "same": True}
            assert (await http.get("/_t/add")).status_code == 500
            assert (await http.get("/_t/update")).status_code == 500
        assert checked_out(live.app) == 0


@pytest.mark.parametrize("path", ["/_t/add", "/_t/update"])
async def test_a_get_that_writes_fails_and_leaves_nothing(
    http: httpx.AsyncClient, server: LiveServer, engine: AsyncEngine, path: str
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO products (name, stock, version_id) VALUES ('kept', 5, 1)"))
    response = await http.get(path)
    assert response.status_code == 500  # a handler bug, reported as one
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "read-only" not in response.text  # the reason is logged, not sent
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Product.name, Product.stock).order_by(Product.id))).all()
        assert [tuple(row) for row in rows] == [("kept", 5)]
        assert (await conn.execute(select(func.count()).select_from(Product))).scalar_one() == 1
    assert checked_out(server.app) == 0
    assert (await http.get("/products/1")).status_code == 200  # the next request is served as usual
