"""The database goes away and comes back, behind a TCP proxy of the test's own (the cluster itself is never touched).

While it is down — refused connections (a stopped server) or a black hole (a partition: only the connect timeout
ends the wait) — every request that needs it is a 503 with ``Retry-After`` answered within the connect timeout:
never a hang, never a 500. Within 5 s of its return every request succeeds again, in the same server process.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.reliability.tcpproxy import proxied
from tests.support.processes import APP_KINDS, LeakGuard, report, serving
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 2.0  # libpq (the twin) rounds anything lower up to 2 s
MARGIN = 1.0
RECOVER_WITHIN = 5.0
CONCURRENCY = 5
RECOVERED_STREAK = 50


def _streak(results: list[tuple[float, int | str, float, str | None]]) -> int:
    """How many of the latest results are successes in a row."""
    count = 0
    for _, status, _, _ in reversed(results):
        if status != 200:
            break
        count += 1
    return count


async def _wave(client: httpx.AsyncClient, path: str, count: int) -> list[tuple[float, int | str, float, str | None]]:
    """``count`` concurrent GETs: (start time, status or the transport error's name, duration, Retry-After)."""

    async def one() -> tuple[float, int | str, float, str | None]:
        start = time.monotonic()
        try:
            response = await client.get(path)
        except httpx.TransportError as exc:
            return start, type(exc).__name__, time.monotonic() - start, None
        return start, response.status_code, time.monotonic() - start, response.headers.get("Retry-After")

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def _while_down(client: httpx.AsyncClient, waves: int) -> tuple[set[int | str], float, set[str | None]]:
    """``waves`` rounds of concurrent /users and /ready: the statuses, the slowest answer, the Retry-After values."""
    results = []
    for _ in range(waves):
        users, ready = await asyncio.gather(_wave(client, "/users", CONCURRENCY), _wave(client, "/ready", 1))
        results += users + ready
    return {status for _, status, _, _ in results}, max(took for _, _, took, _ in results), {r for *_, r in results}


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_outage_is_503_within_the_connect_timeout_and_recovery_is_quick(
    request: pytest.FixtureRequest, kind: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    target = make_url(database_url)
    port = free_port()
    proxied_url = target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    guard.secrets.append(proxied_url)
    env = {
        "DATABASE_URL": proxied_url,
        "DB_APPLICATION_NAME": f"rel-outage-{kind}",
        "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    }
    with (
        proxied(target.host or "127.0.0.1", target.port or 5432, port) as proxy,
        serving(kind, env, tmp_path, guard) as server,
    ):
        pid = server.pid
        async with guard.client(server.base_url, timeout=CONNECT_TIMEOUT + 5) as client:
            before = {status for _, status, _, _ in await _wave(client, "/users", 10)}
            assert before == {200}

            proxy.set_mode("refused")
            refused, refused_max, refused_retry = await _while_down(client, 4)
            proxy.set_mode("blackhole")
            holed, holed_max, holed_retry = await _while_down(client, 1)
            health = (await client.get("/health")).status_code

            proxy.set_mode("up")
            back = time.monotonic()
            after: list[tuple[float, int | str, float, str | None]] = []
            # Until 50 successes in a row, or for longer than the recovery may take.
            while time.monotonic() - back < RECOVER_WITHIN + 1 and _streak(after) < RECOVERED_STREAK:
                after += await _wave(client, "/users", CONCURRENCY)
            failures = [start - back for start, status, _, _ in after if status != 200]
            recovered_after = max(failures, default=0.0)
            successes_after_recovery = sum(1 for start, status, _, _ in after if start - back > recovered_after)
        report(
            request,
            refused_statuses=sorted(map(str, refused)),
            refused_max_s=round(refused_max, 3),
            blackhole_statuses=sorted(map(str, holed)),
            blackhole_max_s=round(holed_max, 3),
            retry_after=sorted(map(str, refused_retry | holed_retry)),
            errors_after_return=len(failures),
            last_error_after_return_s=round(recovered_after, 3),
            requests_after_recovery=successes_after_recovery,
        )
        assert refused == holed == {503}, "only 503 while the database is down"
        assert refused_retry == holed_retry == {"1"}, "every 503 carries Retry-After"
        assert refused_max <= CONNECT_TIMEOUT + MARGIN
        assert holed_max <= CONNECT_TIMEOUT + MARGIN
        assert health == 200
        assert recovered_after < RECOVER_WITHIN
        assert successes_after_recovery >= RECOVERED_STREAK
        assert server.alive(), "the service was not restarted"
        assert server.pid == pid
