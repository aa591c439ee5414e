"""Query metrics and debugging on both apps: X-Query-* headers, the slow-query log, /metrics."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from service.config import PoolSettings
from service.observability.queries import statement_kind
from tests.conftest import make_settings
from tests.support.servers import LiveServer, serve_flask, serve_quart

SERVE = {"quart": serve_quart, "flask": serve_flask}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(params=["quart", "flask"])
async def recording(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, record_queries=True, slow_query_threshold=0.0)
    async with SERVE[request.param](settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            yield client


async def test_every_response_carries_query_headers(recording: httpx.AsyncClient) -> None:
    created = await recording.post("/users", json={"email": "h@example.com", "name": "H"})
    assert int(created.headers["X-Query-Count"]) >= 1
    user_id = created.json()["id"]
    got = await recording.get(f"/users/{user_id}")
    assert got.headers["X-Query-Count"] == "1"
    assert float(got.headers["X-Query-Time-Ms"]) > 0
    assert (await recording.get("/users")).headers["X-Query-Count"] == "2"
    assert (await recording.get("/health")).headers["X-Query-Count"] == "0"
    missing = await recording.get("/users/424242")
    assert missing.status_code == 404
    assert missing.headers["X-Query-Count"] == "1"  # errors too


async def test_slow_queries_are_logged_once_without_parameters(
    recording: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.slow_queries"):
        response = await recording.get("/users/lookup", params={"email": "private-person@example.com"})
    assert response.status_code == 404
    slow = [r.getMessage() for r in caplog.records if r.name == "service.slow_queries"]
    assert len(slow) == 1  # the request ran one statement; threshold 0 makes it slow; logged once
    assert re.match(r"slow query \(\d+\.\d{3}s\) at .+: SELECT", slow[0])
    assert "private-person" not in slow[0]


async def test_recording_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert "X-Query-Count" not in response.headers


async def test_metrics_exposition(live_server: LiveServer, client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    created = await client.post("/products", json={"name": "m", "stock": 30})
    product_id = created.json()["id"]
    await client.get(f"/products/{product_id}")
    await client.get("/products/424242")
    await asyncio.gather(*(client.post(f"/products/{product_id}/reserve", json={"quantity": 1}) for _ in range(20)))
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.text
    for name in (
        "db_query_duration_seconds_bucket",
        "db_slow_queries_total",
        "db_pool_checked_out",
        "db_pool_timeouts_total",
        "optimistic_lock_retries_total",
        "optimistic_lock_conflicts_total",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
    ):
        assert name in after, name
    route = "/products/<id:product_id>"
    assert (
        sample(after, "http_requests_total", route=route, status="200")
        - sample(before, "http_requests_total", route=route, status="200")
        == 1
    )
    assert (
        sample(after, "http_requests_total", route=route, status="404")
        - sample(before, "http_requests_total", route=route, status="404")
        == 1
    )
    assert "/products/424242" not in after  # route templates, never raw paths
    selects = sample(after, "db_query_duration_seconds_count", kind="select")
    assert selects > sample(before, "db_query_duration_seconds_count", kind="select")
    assert sample(after, "db_query_duration_seconds_count", kind="update") >= 20
    # 20 concurrent reservations of one row: some lost the first race and were retried.
    assert sample(after, "optimistic_lock_retries_total") > sample(before, "optimistic_lock_retries_total")
    assert "\ndb_pool_checked_out " in after  # exported: sample() reads an absent gauge as 0
    assert sample(after, "db_pool_checked_out") == 0
    assert "SELECT" not in after  # no SQL text in labels


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_pool_timeouts_are_counted(kind: str, database_url: str) -> None:
    settings = make_settings(
        database_url, pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=0.1), bench_endpoints=True
    )
    async with SERVE[kind](settings) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        before = sample((await client.get("/metrics")).text, "db_pool_timeouts_total")
        responses = await asyncio.gather(*(client.get("/bench/latency?ms=200") for _ in range(5)))
        after = sample((await client.get("/metrics")).text, "db_pool_timeouts_total")
    unavailable = sum(r.status_code == 503 for r in responses)
    assert unavailable > 0
    assert {r.status_code for r in responses} <= {200, 503}
    assert after - before == unavailable


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("SELECT 1", "select"),
        ("  select * from users", "select"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("INSERT INTO users VALUES (1)", "insert"),
        ("UPDATE products SET stock = 1", "update"),
        ("DELETE FROM users", "delete"),
        ("COPY users FROM STDIN", "other"),
        ("", "other"),
    ],
)
def test_statement_kind(statement: str, kind: str) -> None:
    assert statement_kind(statement) == kind
