"""Clients that give up: 200 requests to a slow endpoint abandoned after 0.1 s leave nothing behind.

Only the async service: Hypercorn cancels a request's task when its client disconnects, and that cancellation must
still return the connection (the shielded session teardown). A WSGI worker cannot notice a client going away; the
twin's request runs to its end, and its bound is the statement timeout (test_server_guards.py).

One run of the scenario feeds both tests: what the pool and the server show afterwards, and what /metrics says.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import clone_database, drop_database
from tests.support.processes import (
    LeakGuard,
    backends,
    conninfo,
    report,
    scrape,
    secrets_of,
    serving,
    wait_until,
)

pytestmark = pytest.mark.slow

REQUESTS = 200
WAVE = 50
CLIENT_TIMEOUT = 0.1
SETTLE_WITHIN = 2.0
POOL = 30  # DB_POOL_SIZE 10 + DB_MAX_OVERFLOW 20, the defaults


class ActivityWatch:
    """Polls pg_stat_activity in a thread while the block runs: the app's running statements."""

    def __init__(self, server_url: str, application_name: str) -> None:
        self.url = conninfo(server_url)
        self.application_name = application_name
        self.peak_active = 0
        self.statements: set[tuple[int, object]] = set()  # (backend pid, query_start): one per statement run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="activity-watch", daemon=True)

    def __enter__(self) -> ActivityWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _poll(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT pid, query_start FROM pg_stat_activity"
                    " WHERE application_name = %s AND state = 'active' AND query LIKE %s",
                    [self.application_name, "%pg_sleep%"],
                ).fetchall()
                self.peak_active = max(self.peak_active, len(rows))
                self.statements.update((pid, start) for pid, start in rows)
                time.sleep(0.005)


@dataclass
class Abandoned:
    gave_up: int
    peak_busy: int
    statements_seen: int
    settled_after: float | None
    idle_in_transaction: int
    server_connections: int
    checked_out_metric: float
    next_100: list[int]
    full_pool: list[int]


async def _abandon(server_url: str, database_url: str, log_dir: Path) -> Abandoned:
    app_name = "rel-cancel"
    # A short pool timeout: a connection that never came back would turn the full-pool check below into 503s.
    env = {
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": app_name,
        "BENCH_ENDPOINTS": "1",
        "DB_POOL_TIMEOUT": "2",
    }
    guard = LeakGuard(secrets=secrets_of(database_url))
    with serving("quart", env, log_dir, guard) as server:
        # Every client gives up after 0.1 s on a statement that takes 1 s. In waves of 50 (Hypercorn's listen
        # backlog is 100): the pool (30) fills at once; 30 requests of a wave are cancelled mid-query, 20 while
        # they wait for a connection.
        limits = httpx.Limits(max_connections=WAVE, max_keepalive_connections=0)
        results: list[object] = []
        with ActivityWatch(server_url, app_name) as watch:
            async with guard.client(server.base_url, timeout=CLIENT_TIMEOUT, limits=limits) as client:
                for _ in range(REQUESTS // WAVE):
                    calls = [client.get("/bench/latency", params={"ms": 1000}) for _ in range(WAVE)]
                    results += await asyncio.gather(*calls, return_exceptions=True)
        abandoned_at = time.monotonic()

        def open_transactions() -> list[str]:
            # "idle in transaction" and "idle in transaction (aborted)"
            return [state for _, state in backends(server_url, app_name) if (state or "").startswith("idle in")]

        settled = wait_until(lambda: not open_transactions(), SETTLE_WITHIN)
        # What counts is the state SETTLE_WITHIN after the clients left, not one lucky instant before.
        await asyncio.sleep(max(0.0, abandoned_at + SETTLE_WITHIN - time.monotonic()))
        still_open = open_transactions()
        server_connections = len(backends(server_url, app_name))
        checked_out = scrape(server.base_url, "db_pool_checked_out")
        async with guard.client(server.base_url, timeout=10, limits=httpx.Limits(max_connections=100)) as client:
            after = await asyncio.gather(*(client.get("/users") for _ in range(100)))
            # Every pooled connection free again: POOL requests holding one for 0.5 s all at once, none refused.
            full = await asyncio.gather(*(client.get("/bench/latency", params={"ms": 500}) for _ in range(POOL)))
        return Abandoned(
            gave_up=sum(isinstance(result, httpx.TimeoutException) for result in results),
            peak_busy=watch.peak_active,
            statements_seen=len(watch.statements),
            settled_after=settled,
            idle_in_transaction=len(still_open),
            server_connections=server_connections,
            checked_out_metric=checked_out,
            next_100=[response.status_code for response in after],
            full_pool=[response.status_code for response in full],
        )


@pytest.fixture(scope="module")
async def abandoned(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Abandoned]:
    database_url = clone_database(server_url, template_url)
    try:
        yield await _abandon(server_url, database_url, tmp_path_factory.mktemp("cancel"))
    finally:
        drop_database(server_url, database_url)


async def test_abandoned_requests_release_every_connection(
    request: pytest.FixtureRequest, abandoned: Abandoned
) -> None:
    seen = abandoned
    report(
        request,
        abandoned=seen.gave_up,
        statements_started=seen.statements_seen,
        peak_statements_running=seen.peak_busy,
        no_open_transaction_after_s=seen.settled_after and round(seen.settled_after, 3),
        idle_in_transaction_at_2s=seen.idle_in_transaction,
        server_connections_at_2s=seen.server_connections,
        next_100=sorted(set(seen.next_100)),
        full_pool=sorted(set(seen.full_pool)),
    )
    assert seen.gave_up == REQUESTS
    # Typically 100-130 of the 200 start their statement before their client gives up (fewer on a loaded machine);
    # the rest are cancelled while they wait for a connection or for the server to read them.
    assert seen.statements_seen >= POOL // 3, "too few requests reached the database to test anything"
    assert seen.settled_after is not None
    assert seen.settled_after <= SETTLE_WITHIN
    assert seen.idle_in_transaction == 0
    assert seen.next_100 == [200] * 100
    assert seen.full_pool == [200] * POOL, "a connection of a cancelled request never came back to the pool"


async def test_the_checked_out_gauge_is_back_to_zero(request: pytest.FixtureRequest, abandoned: Abandoned) -> None:
    report(request, db_pool_checked_out=abandoned.checked_out_metric)
    assert abandoned.checked_out_metric == 0
