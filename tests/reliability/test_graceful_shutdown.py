"""SIGTERM, as an orchestrator sends it: in-flight requests finish, the process exits 0 and leaves no connection.

A request still running when the graceful timeout ends is cut off; what it had written is rolled back with its
transaction, never committed half-way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import clone_database, drop_database
from tests.support.processes import (
    APP_KINDS,
    LeakGuard,
    backends,
    find_leaks,
    query,
    report,
    secrets_of,
    serving,
    wait_until,
)

pytestmark = pytest.mark.slow

IN_FLIGHT = 20
GRACEFUL = 2  # seconds, for the cut-off test: shorter than the slow request below
SLOW_ROWS = 5  # the cut-off request inserts this many users, each taking 1 s (a trigger)


def _graceful_flags(kind: str, seconds: int) -> tuple[list[str], dict[str, str]]:
    if kind == "quart":
        return ["--graceful-timeout", str(seconds)], {}
    return [], {"GUNICORN_GRACEFUL_TIMEOUT": str(seconds)}


async def _until_active(server_url: str, app_name: str, count: int, within: float = 10) -> None:
    async def check() -> bool:
        states = await asyncio.to_thread(backends, server_url, app_name)
        return [state for _, state in states].count("active") >= count

    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"fewer than {count} requests reached the database"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_sigterm_lets_in_flight_requests_finish(
    request: pytest.FixtureRequest, kind: str, server_url: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    app_name = f"rel-drain-{kind}"
    env = {
        "DATABASE_URL": database_url,
        "DB_APPLICATION_NAME": app_name,
        "BENCH_ENDPOINTS": "1",
        "GUNICORN_THREADS": str(IN_FLIGHT),  # per worker: every request is taken at once, none waits in a backlog
    }
    with serving(kind, env, tmp_path, guard) as server:
        limits = httpx.Limits(max_connections=IN_FLIGHT)
        async with guard.client(server.base_url, timeout=30, limits=limits) as client:
            calls = [asyncio.create_task(client.get("/bench/latency", params={"ms": 1000})) for _ in range(IN_FLIGHT)]
            await _until_active(server_url, app_name, IN_FLIGHT)
            signalled = time.monotonic()
            server.terminate()
            results = await asyncio.gather(*calls, return_exceptions=True)
        code = await asyncio.to_thread(server.wait, 30)
        exited_after = time.monotonic() - signalled
        gone = wait_until(lambda: not backends(server_url, app_name), 5)
        statuses = [getattr(result, "status_code", type(result).__name__) for result in results]
        report(
            request,
            completed_200=statuses.count(200),
            other=[status for status in statuses if status != 200],
            exit_code=code,
            exited_after_sigterm_s=round(exited_after, 3),
            connections_gone_after_exit_s=gone and round(gone, 3),
        )
        assert statuses == [200] * IN_FLIGHT
        assert code == 0
        assert gone is not None, f"server connections left: {backends(server_url, app_name)}"


@dataclass
class CutOff:
    """What one run of the cut-off scenario saw."""

    answer: int | str
    exit_code: int | None
    exited_after: float
    connections_gone_after: float | None
    users_committed: int
    log_leaks: list[str]


async def _cut_off(kind: str, server_url: str, database_url: str, log_dir: Path) -> CutOff:
    """A bulk insert of 5 users, each taking 1 s (a trigger), cut off by SIGTERM and a 2 s graceful timeout."""
    query(
        database_url,
        """
        CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(1); RETURN NEW; END $$;
        CREATE TRIGGER slow_insert BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION slow_insert();
        """,
    )
    app_name = f"rel-cutoff-{kind}"
    extra, graceful_env = _graceful_flags(kind, GRACEFUL)
    env = {"DATABASE_URL": database_url, "DB_APPLICATION_NAME": app_name, **graceful_env}
    rows = [{"email": f"cut{index}@example.com", "name": f"Cut {index}"} for index in range(SLOW_ROWS)]
    # The log is checked by the tests below, not by the guard: one of them is about what it shows.
    guard = LeakGuard(secrets=secrets_of(database_url))
    with serving(kind, env, log_dir, extra=extra) as server:
        async with guard.client(server.base_url, timeout=30) as client:
            call = asyncio.create_task(client.post("/users/bulk", json=rows))
            await _until_active(server_url, app_name, 1)
            await asyncio.sleep(0.5)
            signalled = time.monotonic()
            server.terminate()
            result = (await asyncio.gather(call, return_exceptions=True))[0]
        code = await asyncio.to_thread(server.wait, 30)
        exited_after = time.monotonic() - signalled
    # A killed worker's backend finishes its statement before it notices that its client is gone.
    gone = wait_until(lambda: not backends(server_url, app_name), SLOW_ROWS + 3)
    (users,) = query(database_url, "SELECT count(*) FROM users")[0]
    return CutOff(
        answer=getattr(result, "status_code", type(result).__name__),
        exit_code=code,
        exited_after=exited_after,
        connections_gone_after=gone,
        users_committed=users,
        log_leaks=find_leaks(server.log(), guard.secrets),
    )


@pytest.fixture(scope="module")
async def cut_off(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[[str], Awaitable[CutOff]]]:
    """The cut-off scenario, run once per app for the two tests that look at it."""
    runs: dict[str, CutOff] = {}
    databases: list[str] = []

    async def run(kind: str) -> CutOff:
        if kind not in runs:
            databases.append(clone_database(server_url, template_url))
            runs[kind] = await _cut_off(kind, server_url, databases[-1], tmp_path_factory.mktemp(f"cutoff-{kind}"))
        return runs[kind]

    try:
        yield run
    finally:
        for url in databases:
            drop_database(server_url, url)


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_request_past_the_graceful_timeout_commits_nothing(
    request: pytest.FixtureRequest, kind: str, cut_off: Callable[[str], Awaitable[CutOff]]
) -> None:
    seen = await cut_off(kind)
    report(
        request,
        answer=seen.answer,
        exit_code=seen.exit_code,
        exited_after_sigterm_s=round(seen.exited_after, 3),
        users_committed=seen.users_committed,
        connections_gone_after_exit_s=seen.connections_gone_after and round(seen.connections_gone_after, 3),
    )
    assert seen.answer != 201
    assert seen.users_committed == 0, "a request cut off by shutdown committed part of its work"
    assert seen.exited_after < GRACEFUL + 3
    assert seen.exit_code == 0
    assert seen.connections_gone_after is not None


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_request_past_the_graceful_timeout_is_never_a_500_nor_a_traceback(
    request: pytest.FixtureRequest, kind: str, cut_off: Callable[[str], Awaitable[CutOff]]
) -> None:
    """A cut-off request gets a 503 or, from a worker killed mid-request, a closed connection; the log stays clean."""
    seen = await cut_off(kind)
    report(request, answer=seen.answer, log_leaks=seen.log_leaks)
    assert seen.answer in (503, "RemoteProtocolError"), seen.answer
    assert seen.log_leaks == []
