"""The twin as it is deployed: real Gunicorn (gthread, several processes) from ``gunicorn.conf.py``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Product
from tests.support.processes import serving

pytestmark = pytest.mark.slow


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``gunicorn -c gunicorn.conf.py`` (2 gthread workers x 8 threads) on a free loopback port; its base URL."""
    env = {"DATABASE_URL": database_url, "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "8"}
    with serving("flask", env, tmp_path) as server:
        yield server.base_url
        # Leaving the block stops it with SIGTERM; it must drain and exit cleanly.
    assert server.process.returncode == 0, server.log()[-4000:]


@pytest.fixture
async def client(gunicorn: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gunicorn, timeout=30) as client:
        yield client


async def test_fifty_concurrent_reserves_under_gunicorn(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await client.post("/products", json={"name": "widget", "stock": 30})
    assert created.status_code == 201, created.text
    url = f"/products/{created.json()['id']}/reserve"
    responses = await asyncio.gather(*(client.post(url, json={"quantity": 1}) for _ in range(50)))
    statuses = Counter(response.status_code for response in responses)
    details = Counter(response.json()["detail"] for response in responses if response.status_code == 409)
    assert statuses == {200: 30, 409: 20}, (statuses, details)
    assert {response.headers["Content-Type"] for response in responses if response.status_code == 409} == {
        "application/problem+json"
    }
    async with engine.connect() as conn:
        stock, version_id = (await conn.execute(select(Product.stock, Product.version_id))).one()
    assert (stock, version_id) == (0, 31)
    assert (await client.get("/ready")).json() == {"status": "ready"}
