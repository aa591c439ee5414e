"""The pre-ping window (``DB_POOL_PING_WINDOW``) keeps the ping's promise, on both apps, through the real servers.

Every app connection is terminated (``pg_terminate_backend``) while the pool holds it, either *inside* the window
(the connections were checked in a moment ago: a busy server, no ping at the next checkout) or *outside* it (an idle
server: the checkout pings). Then:

* reads: the next 50 all answer 200 — a read whose connection turned out dead is run once more on a fresh one;
* writes: each answers 201 or 503 (never a 500), and exactly the 201s are in the table: none ran twice.

At window 0 every checkout pings, at 0.5 (the default) a busy server skips it, at 60 every reuse skips it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.support.processes import (
    APP_KINDS,
    LeakGuard,
    backends,
    query,
    report,
    serving,
    terminate_backends,
    wait_until,
)

pytestmark = pytest.mark.slow

READS = 50
WRITES = 20
CONCURRENCY = 10
POOL = 5


async def _fill_pool(client: httpx.AsyncClient) -> None:
    """Every pooled connection used and checked in just now: concurrent requests that each hold one for 0.1 s."""
    warm = await asyncio.gather(*(client.get("/bench/latency", params={"ms": 100}) for _ in range(POOL * 2)))
    assert {response.status_code for response in warm} == {200}


async def _waves(client: httpx.AsyncClient, requests: list[tuple[str, str, object]]) -> list[int | str]:
    outcomes: list[int | str] = []

    async def one(method: str, path: str, body: object) -> int | str:
        try:
            return (await client.request(method, path, json=body)).status_code
        except httpx.TransportError as exc:
            return type(exc).__name__

    for start in range(0, len(requests), CONCURRENCY):
        outcomes += await asyncio.gather(*(one(*item) for item in requests[start : start + CONCURRENCY]))
    return outcomes


# (when the connections die, DB_POOL_PING_WINDOW): a 60 s window has no "outside" within this test's time.
CASES = [("inside", "0"), ("inside", "0.5"), ("inside", "60"), ("outside", "0"), ("outside", "0.5")]


@pytest.mark.parametrize(("when", "window"), CASES)
@pytest.mark.parametrize("kind", APP_KINDS)
async def test_killed_connections_never_fail_a_read_nor_run_a_write_twice(
    request: pytest.FixtureRequest,
    kind: str,
    when: str,
    window: str,
    server_url: str,
    database_url: str,
    tmp_path: Path,
    guard: LeakGuard,
) -> None:
    app_name = f"rel-stale-{kind}-{when}-{window}".replace(".", "_")
    env = {
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": app_name,
        "BENCH_ENDPOINTS": "1",
        "DB_POOL_PING_WINDOW": window,
        "DB_POOL_SIZE": str(POOL),
        "DB_MAX_OVERFLOW": "0",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": str(POOL),
    }
    with serving(kind, env, tmp_path, guard) as server:
        async with guard.client(server.base_url) as client:
            reader = await client.post("/users", json={"email": "reader@example.com", "name": "R"})
            user_id = reader.json()["id"]
            results: dict[str, list[int | str]] = {}
            for phase in ("reads", "writes"):
                await _fill_pool(client)
                if when == "outside":
                    await asyncio.sleep(float(window) + 0.2)
                killed = terminate_backends(server_url, app_name)
                assert killed >= 1, "no pooled connection to kill"
                assert wait_until(lambda: not backends(server_url, app_name), 5) is not None
                if phase == "reads":
                    results[phase] = await _waves(client, [("GET", f"/users/{user_id}", None)] * READS)
                else:
                    bodies = [{"email": f"w{n}-{when}@example.com", "name": "W"} for n in range(WRITES)]
                    results[phase] = await _waves(client, [("POST", "/users", body) for body in bodies])
    stored = query(database_url, "SELECT email FROM users WHERE email LIKE 'w%%@example.com' ORDER BY email")
    reads, writes = results["reads"], results["writes"]
    report(
        request,
        reads_failed=sum(1 for status in reads if status != 200),
        writes={str(status): writes.count(status) for status in set(writes)},
        rows_written=len(stored),
    )
    assert reads == [200] * READS
    assert set(writes) <= {201, 503}, writes
    assert len(stored) == writes.count(201), "a write answered 503 but was stored, or one was stored twice"
