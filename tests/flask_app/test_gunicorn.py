"""The twin as it is deployed: real Gunicorn (gthread, several processes) from ``gunicorn.conf.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Product
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 40.0  # above gunicorn.conf.py's graceful_timeout (30 s)

pytestmark = pytest.mark.slow


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``gunicorn -c gunicorn.conf.py 'service.flask_app:create_app()'`` on a free loopback port; its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": "service-tests",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "8",
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "service.flask_app:create_app()"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, base_url, log_path)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            pytest.fail(f"gunicorn ignored SIGTERM:\n{log_path.read_text()[-4000:]}")
        if process.returncode != 0:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"gunicorn did not answer /health within {START_TIMEOUT} s:\n{log_path.read_text()[-4000:]}")


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
