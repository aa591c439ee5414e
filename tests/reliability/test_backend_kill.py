"""Every server connection of the app killed (``pg_terminate_backend``): the next 50 requests all succeed.

The pool's pre-ping finds each dead connection at checkout and replaces it before the request uses it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.processes import APP_KINDS, LeakGuard, backends, report, serving, terminate_backends, wait_until

pytestmark = pytest.mark.slow

AFTER_KILL = 50
CONCURRENCY = 10


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_killed_backends_are_replaced_without_a_failed_request(
    request: pytest.FixtureRequest, kind: str, server_url: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    app_name = f"rel-kill-{kind}"
    env = {"DATABASE_URL": database_url, "DB_APPLICATION_NAME": app_name, "BENCH_ENDPOINTS": "1"}
    with serving(kind, env, tmp_path, guard) as server:
        async with guard.client(server.base_url) as client:
            # Fill the pool(s) with several idle connections: concurrent requests that each hold one for 0.2 s.
            warm = await asyncio.gather(*(client.get("/bench/latency", params={"ms": 200}) for _ in range(16)))
            assert {response.status_code for response in warm} == {200}
            pooled = len(backends(server_url, app_name))
            killed = terminate_backends(server_url, app_name)
            assert killed >= 2, f"only {killed} connection(s) to kill"
            assert wait_until(lambda: not backends(server_url, app_name), 5) is not None

            statuses: list[int] = []
            for _ in range(AFTER_KILL // CONCURRENCY):
                wave = await asyncio.gather(*(client.get("/users") for _ in range(CONCURRENCY)))
                statuses += [response.status_code for response in wave]
            ready = await client.get("/ready")
    report(
        request,
        pooled_before=pooled,
        killed=killed,
        requests_after=len(statuses),
        failed=len(statuses) - statuses.count(200),
    )
    assert statuses == [200] * AFTER_KILL
    assert ready.status_code == 200
