"""The request-scoped session of the Quart extension, through a real Hypercorn server on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from quart import Quart, jsonify
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config import Settings
from service.db.models import Product
from service.quart_app.extension import ServiceSQLAlchemy
from tests.support.servers import LiveServer, checked_out, serve_quart

held_sessions: list[object] = []


def _add_test_routes(app: Quart) -> None:
    db: ServiceSQLAlchemy = app.extensions["sqlalchemy"]

    @app.post("/_t/uncommitted")
    async def uncommitted() -> object:
        db.session.add(Product(name="never-committed", stock=1))
        await db.session.flush()  # the INSERT reaches PostgreSQL, inside the request's transaction
        return jsonify(flushed=True)

    @app.post("/_t/slow")
    async def slow() -> object:
        # Held past the request: only the teardown, not garbage collection, may release its connection.
        held_sessions.append(db.session)
        db.session.add(Product(name="slow", stock=1))
        await db.session.flush()
        await db.session.execute(text("SELECT pg_sleep(5)"))
        return jsonify(done=True)

    @app.post("/_t/echo/<int:n>")
    async def echo(n: int) -> object:
        session = db.session
        product = Product(name=f"value-{n}", stock=n)  # referenced: the identity map is weak
        session.add(product)
        await session.flush()
        await asyncio.sleep(random.uniform(0, 0.02))  # let the other requests interleave
        seen = (await session.execute(select(Product.name).order_by(Product.id))).scalars().all()
        mine = [obj.name for obj in session.identity_map.values() if isinstance(obj, Product)]
        await session.commit()
        return jsonify(seen=list(seen), mine=mine, id=product.id, same_session=db.session is session)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve_quart(settings, configure=_add_test_routes) as live:
        yield live


async def _idle_in_transaction(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'service-tests' "
                        "AND (state LIKE 'idle in transaction%' OR query ILIKE '%pg_sleep%' AND state = 'active') "
                        "AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar_one()
        )


async def test_uncommitted_work_is_discarded_at_teardown(server: LiveServer, engine: AsyncEngine) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post("/_t/uncommitted")).json() == {"flushed": True}
        # The next request (a fresh session) and an outside connection both see nothing.
        assert (await client.get("/products/1")).status_code == 404
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Product))).scalar_one() == 0
    assert checked_out(server.app) == 0


async def test_pool_is_back_to_zero_after_every_request(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for method, path, body in [
            ("POST", "/products", {"name": "p", "stock": 2}),
            ("GET", "/products/1", None),
            ("POST", "/products/1/reserve", {"quantity": 5}),  # 409: the use case raised mid-transaction
            ("GET", "/users?page=1", None),
            ("GET", "/users/999", None),
            ("POST", "/_t/uncommitted", None),
        ]:
            response = await client.request(method, path, json=body)
            assert response.status_code < 500
            assert checked_out(server.app) == 0, (method, path)


async def test_cancelled_request_releases_its_connection(server: LiveServer, engine: AsyncEngine) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/_t/slow")
    # The client is gone mid-query: the teardown must roll back and return the connection promptly.
    for _ in range(100):
        if checked_out(server.app) == 0 and await _idle_in_transaction(engine) == 0:
            break
        await asyncio.sleep(0.02)
    assert checked_out(server.app) == 0
    assert await _idle_in_transaction(engine) == 0
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Product))).scalar_one() == 0
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.get("/ready")).status_code == 200


async def test_concurrent_requests_never_share_a_session(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        responses = await asyncio.gather(*(client.post(f"/_t/echo/{n}") for n in range(50)))
    for n, response in enumerate(responses):
        assert response.status_code == 200
        body = response.json()
        assert body["mine"] == [f"value-{n}"]  # its identity map holds its own row only
        assert f"value-{n}" in body["seen"]
        assert body["same_session"] is True  # one session for the whole request
    assert checked_out(server.app) == 0
