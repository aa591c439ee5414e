"""More concurrent slow requests than connections: each is served or refused quickly, and the pool recovers.

pool_size=2, max_overflow=0, pool_timeout=0.5 s and 20 concurrent requests holding a connection for 0.3 s each:
every answer is a 200 or a 503 with ``Retry-After``, none waits much longer than pool_timeout + query time, and
afterwards nothing is checked out and no more than ``pool_size`` server connections remain. A refusal also comes
no sooner than pool_timeout: a request that could have had a connection by then must not be turned away.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.processes import LeakGuard, backends, percentile, report, scrape, serving

pytestmark = pytest.mark.slow

POOL_SIZE = 2
POOL_TIMEOUT = 0.5
QUERY_MS = 300
CONCURRENT = 20
MARGIN = 0.5


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_exhausted_pool_answers_503_quickly_and_recovers(
    request: pytest.FixtureRequest, kind: str, server_url: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    app_name = f"rel-pool-{kind}"
    env = {
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": app_name,
        "BENCH_ENDPOINTS": "1",
        "DB_POOL_SIZE": str(POOL_SIZE),
        "DB_MAX_OVERFLOW": "0",
        "DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
        "DB_POOL_MAX_WAITERS": "0",  # no queue bound: this test is about pool_timeout (the bound: below)
        # The twin: one process whose threads can all be in flight at once, so they compete for its pool of 2.
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": str(CONCURRENT),
    }
    with serving(kind, env, tmp_path, guard) as server:
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with guard.client(server.base_url, timeout=10, limits=limits) as client:

            async def one() -> tuple[int, float, str | None]:
                start = time.monotonic()
                response = await client.get("/bench/latency", params={"ms": QUERY_MS})
                return response.status_code, time.monotonic() - start, response.headers.get("Retry-After")

            results = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        statuses = Counter(status for status, _, _ in results)
        p99 = percentile([took for _, took, _ in results], 0.99)
        refused_retry_after = {retry for status, _, retry in results if status == 503}
        first_refusal = min((took for status, took, _ in results if status == 503), default=None)
        checked_out = scrape(server.base_url, "db_pool_checked_out")
        timeouts = scrape(server.base_url, "db_pool_timeouts_total")
        connections = len(backends(server_url, app_name))
        report(
            request,
            statuses=dict(statuses),
            p99_s=round(p99, 3),
            first_503_s=first_refusal and round(first_refusal, 3),
            bound_s=POOL_TIMEOUT + QUERY_MS / 1000 + MARGIN,
            pool_timeouts_total=timeouts,
            checked_out_after=checked_out,
            server_connections_after=connections,
        )
        assert set(statuses) <= {200, 503}
        assert statuses[200] >= POOL_SIZE
        assert statuses[503] > 0
        assert refused_retry_after == {"1"}
        assert p99 <= POOL_TIMEOUT + QUERY_MS / 1000 + MARGIN
        assert first_refusal is not None
        assert first_refusal >= POOL_TIMEOUT - 0.05, "refused before pool_timeout"
        assert timeouts == statuses[503]
        assert checked_out == 0
        assert connections <= POOL_SIZE


async def test_a_checkout_past_the_queue_bound_is_refused_at_once_and_the_queue_is_served_in_order(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    """The async pool's queue bound: 2 connections, 4 may wait; of 20 requests, the rest are told to retry at once.

    The ones let in are served first come, first served: the queue drains in (2 + 4) / 2 = 3 rounds of the query
    time, whatever the arrival order, so even the last of them is done within that.
    """
    bound = 4
    env = {
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": "rel-pool-bound",
        "BENCH_ENDPOINTS": "1",
        "DB_POOL_SIZE": str(POOL_SIZE),
        "DB_MAX_OVERFLOW": "0",
        "DB_POOL_TIMEOUT": "30",
        "DB_POOL_MAX_WAITERS": str(bound),
    }
    with serving("quart", env, tmp_path, guard) as server:
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with guard.client(server.base_url, timeout=30, limits=limits) as client:

            async def one() -> tuple[int, float, str | None]:
                start = time.monotonic()
                response = await client.get("/bench/latency", params={"ms": QUERY_MS})
                return response.status_code, time.monotonic() - start, response.headers.get("Retry-After")

            results = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        statuses = Counter(status for status, _, _ in results)
        slowest_refusal = max((took for status, took, _ in results if status == 503), default=None)
        slowest_served = max(took for status, took, _ in results if status == 200)
        report(
            request,
            statuses=dict(statuses),
            slowest_503_s=slowest_refusal and round(slowest_refusal, 3),
            slowest_200_s=round(slowest_served, 3),
        )
        assert set(statuses) == {200, 503}
        # Arrivals spread over a few milliseconds: one that comes after a connection came back may still get in.
        assert POOL_SIZE + bound <= statuses[200] < CONCURRENT
        assert {retry for status, _, retry in results if status == 503} == {"1"}
        assert slowest_refusal is not None
        assert slowest_refusal < QUERY_MS / 1000, "refused at once, not queued"
        rounds = -(-statuses[200] // POOL_SIZE)
        assert slowest_served <= rounds * QUERY_MS / 1000 + MARGIN
        assert scrape(server.base_url, "db_pool_checked_out") == 0
