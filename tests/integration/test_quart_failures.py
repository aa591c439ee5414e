"""Failure paths of the async app that need a hand-made route: escaping teardowns and pool exhaustion."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from quart import Quart, g, jsonify
from sqlalchemy import text

from service.config import PoolSettings
from service.quart_app.extension import ServiceSQLAlchemy
from tests.conftest import make_settings
from tests.support.servers import serve_quart


@pytest.mark.parametrize("debug", [False, True])
async def test_an_exception_escaping_a_teardown_is_a_problem_500(database_url: str, debug: bool) -> None:
    def configure(app: Quart) -> None:
        app.debug = debug

        @app.before_request
        async def mark() -> None:
            g.in_request = True

        @app.teardown_appcontext
        async def broken(exc: BaseException | None) -> None:
            if g.get("in_request"):  # the app context of start-up must tear down cleanly
                raise RuntimeError("teardown failed at /secret/path.py with SELECT 1")

    async with serve_quart(make_settings(database_url), configure=configure) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.get("/health")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "internal server error"
    for word in ("Traceback", "RuntimeError", "secret", "SELECT", ".py"):
        assert word not in response.text


async def test_pool_exhaustion_is_503_with_retry_after(database_url: str) -> None:
    settings = make_settings(
        database_url, pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=0.2), retry_after_seconds=2
    )

    def configure(app: Quart) -> None:
        db: ServiceSQLAlchemy = app.extensions["sqlalchemy"]

        @app.get("/_t/hold")
        async def hold() -> object:
            await db.session.execute(text("SELECT pg_sleep(1)"))
            return jsonify(held=True)

    async with serve_quart(settings, configure=configure) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            holder = asyncio.create_task(client.get("/_t/hold"))
            await asyncio.sleep(0.3)
            starved = await client.get("/users/1")
            assert (await holder).status_code == 200
            after = await client.get("/ready")
    assert starved.status_code == 503
    assert starved.headers["Retry-After"] == "2"
    assert starved.headers["Content-Type"] == "application/problem+json"
    assert after.status_code == 200
