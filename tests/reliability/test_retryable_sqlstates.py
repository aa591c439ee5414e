"""Deadlocks (40P01) and serialization failures (40001) are retried like lost version races, then 409: never 500.

The deadlock is a real one, detected by PostgreSQL: a trigger makes the app's UPDATE take two advisory locks with a
pause between them, and the test's own transaction takes them in the other order. Failures on every attempt, and
serialization failures (which need SERIALIZABLE transactions the app does not use), are raised by a trigger with
the real SQLSTATE, a set number of times.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import APP_KINDS, LeakGuard, ServerProcess, conninfo, query, report, scrape, serving

pytestmark = pytest.mark.slow

ATTEMPTS = 3
FAULTS = """
CREATE TABLE fault_plan (sqlstate text NOT NULL, failures int NOT NULL);
CREATE SEQUENCE fault_seq;
CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    plan fault_plan;
BEGIN
    SELECT * INTO plan FROM fault_plan LIMIT 1;
    -- nextval is not rolled back with the failing transaction: it counts every attempt.
    IF FOUND AND nextval('fault_seq') <= plan.failures THEN
        RAISE EXCEPTION 'injected fault' USING ERRCODE = plan.sqlstate;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inject_fault BEFORE INSERT OR UPDATE ON products FOR EACH ROW EXECUTE FUNCTION inject_fault();
"""
DEADLOCK_BAIT = """
CREATE FUNCTION deadlock_bait() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1);
    PERFORM pg_sleep(0.5);
    PERFORM pg_advisory_xact_lock(2);
    RETURN NEW;
END $$;
CREATE TRIGGER deadlock_bait BEFORE UPDATE ON products FOR EACH ROW EXECUTE FUNCTION deadlock_bait();
"""


def _plan(database_url: str, sqlstate: str, failures: int) -> None:
    query(database_url, "TRUNCATE fault_plan")
    query(database_url, "INSERT INTO fault_plan VALUES (%s, %s)", [sqlstate, failures])
    query(database_url, "ALTER SEQUENCE fault_seq RESTART")


@pytest.fixture
def server(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path, guard: LeakGuard
) -> Iterator[ServerProcess]:
    env = {
        "DATABASE_URL": database_url,
        "OPTIMISTIC_LOCK_ATTEMPTS": str(ATTEMPTS),
        "GUNICORN_WORKERS": "1",  # /metrics of one process: the retry counters are exact
    }
    with serving(request.param, env, tmp_path, guard) as running:
        yield running


# (what the trigger raises, how many times, the request, the expected status, retries it takes)
CASES = [
    ("40001", 2, "reserve", 200, 2),
    ("40P01", 2, "patch", 200, 2),
    ("40001", 99, "reserve", 409, ATTEMPTS - 1),
    ("40P01", 99, "patch", 409, ATTEMPTS - 1),
    ("40001", 99, "create", 409, 0),  # a plain insert is not retried, but is still no 500
]


@pytest.mark.parametrize("server", APP_KINDS, indirect=True)
async def test_retryable_sqlstates_are_retried_then_409(
    request: pytest.FixtureRequest, server: ServerProcess, database_url: str, guard: LeakGuard
) -> None:
    query(database_url, FAULTS)
    seen = []
    async with guard.client(server.base_url) as client:
        created = await client.post("/products", json={"name": "widget", "stock": 10})
        assert created.status_code == 201
        product = f"/products/{created.json()['id']}"
        calls = {
            "reserve": lambda: client.post(f"{product}/reserve", json={"quantity": 1}),
            "patch": lambda: client.patch(product, json={"name": "renamed"}),
            "create": lambda: client.post("/products", json={"name": "another", "stock": 1}),
        }
        for sqlstate, failures, call, expected, retries in CASES:
            _plan(database_url, sqlstate, failures)
            before = scrape(server.base_url, "optimistic_lock_retries_total")
            response = await calls[call]()
            retried = scrape(server.base_url, "optimistic_lock_retries_total") - before
            seen.append((sqlstate, failures, call, response.status_code, int(retried)))
            assert response.headers["Content-Type"].startswith("application/"), response.headers
            if response.status_code == 409:
                assert response.json()["detail"] == "conflict"
            assert (response.status_code, retried) == (expected, retries), seen
        _plan(database_url, "40001", 0)
        final = (await client.get(product)).json()
    report(request, cases=seen, final_stock=final["stock"])
    assert final["stock"] == 9  # one successful reservation, none lost or doubled by the retries


@pytest.mark.parametrize("server", APP_KINDS, indirect=True)
async def test_a_real_deadlock_is_retried(
    request: pytest.FixtureRequest, server: ServerProcess, database_url: str, guard: LeakGuard
) -> None:
    async with guard.client(server.base_url) as client:
        created = await client.post("/products", json={"name": "widget", "stock": 10})
        product = created.json()
        query(database_url, DEADLOCK_BAIT)
        before = scrape(server.base_url, "optimistic_lock_retries_total")
        start = time.monotonic()
        call = asyncio.create_task(client.post(f"/products/{product['id']}/reserve", json={"quantity": 1}))
        detected = await asyncio.to_thread(_take_the_locks_the_other_way, database_url)
        response = await call
        took = time.monotonic() - start
        retried = scrape(server.base_url, "optimistic_lock_retries_total") - before
    report(
        request,
        deadlock_victim=detected,
        status=response.status_code,
        retries=int(retried),
        answered_after_s=round(took, 3),
    )
    assert detected == "app", "the test's transaction, not the app's, was chosen as the deadlock victim"
    assert response.status_code == 200, response.text
    assert response.json()["stock"] == 9
    assert retried == 1


def _take_the_locks_the_other_way(database_url: str) -> str:
    """Hold advisory lock 2, wait for the app to hold lock 1, then ask for lock 1: a cycle. Who lost it?

    A waiting session looks for a deadlock after ``deadlock_timeout``: the app's after the default 1 s, this one's
    after 10 s, so PostgreSQL breaks the cycle by failing the app's transaction.
    """
    with psycopg.connect(conninfo(database_url)) as conn:
        conn.execute("SET deadlock_timeout = '10s'")
        conn.execute("SELECT pg_advisory_xact_lock(2)")
        deadline = time.monotonic() + 10
        while not conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 1 AND granted"
            " AND pid <> pg_backend_pid()"
        ).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the app's UPDATE never took lock 1"
            time.sleep(0.02)
        try:
            conn.execute("SELECT pg_advisory_xact_lock(1)")  # waits until the app's transaction is rolled back
        except psycopg.errors.DeadlockDetected:
            return "test"
        conn.commit()
        return "app"
