"""Server-side guards: statement_timeout and idle_in_transaction_session_timeout on the app's sessions.

Set on the app's role by ``deploy/app-role.sql`` (run here with the real psql), or per connection by
``DB_STATEMENT_TIMEOUT_MS`` when the app connects directly. A statement over the timeout is a 503 with
``Retry-After``, and the next request succeeds.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import (
    APP_KINDS,
    IDLE_TIMEOUT_MS,
    STATEMENT_TIMEOUT_MS,
    LeakGuard,
    conninfo,
    report,
    serving,
)

pytestmark = pytest.mark.slow


def test_app_role_carries_the_guards(request: pytest.FixtureRequest, app_role_url: str) -> None:
    """The role's sessions get the timeouts; one left idle in a transaction is ended by the server."""
    conn = psycopg.connect(conninfo(app_role_url))
    try:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("statement_timeout", "idle_in_transaction_session_timeout", "lock_timeout")
        }
        conn.execute("SELECT count(*) FROM users")  # the transaction stays open, idle
        time.sleep(IDLE_TIMEOUT_MS / 1000 + 0.5)
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            conn.execute("SELECT 1")
    finally:
        conn.close()
    report(request, **settings, idle_transaction_ended=True)
    assert settings["statement_timeout"] == "1s"  # STATEMENT_TIMEOUT_MS, as PostgreSQL shows it
    assert settings["idle_in_transaction_session_timeout"] == f"{IDLE_TIMEOUT_MS}ms"
    assert settings["lock_timeout"] == "2s"


@pytest.mark.parametrize("source", ["role", "env"])
@pytest.mark.parametrize("kind", APP_KINDS)
async def test_statement_over_the_timeout_is_503_and_the_next_request_succeeds(
    request: pytest.FixtureRequest,
    kind: str,
    source: str,
    database_url: str,
    tmp_path: Path,
    guard: LeakGuard,
) -> None:
    env = {"DB_APPLICATION_NAME": f"rel-guard-{kind}", "BENCH_ENDPOINTS": "1"}
    if source == "role":
        env["DATABASE_URL"] = request.getfixturevalue("app_role_url")
    else:
        env |= {"DATABASE_URL": database_url, "DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_MS)}
    with serving(kind, env, tmp_path, guard) as server:
        async with guard.client(server.base_url, timeout=10) as client:
            start = time.monotonic()
            slow = await client.get("/bench/latency", params={"ms": 3 * STATEMENT_TIMEOUT_MS})
            took = time.monotonic() - start
            created = await client.post("/products", json={"name": "after", "stock": 1})
            ready = await client.get("/ready")
    report(
        request,
        slow_status=slow.status_code,
        slow_answered_after_s=round(took, 3),
        retry_after=slow.headers.get("Retry-After"),
        next_statuses=[created.status_code, ready.status_code],
    )
    assert slow.status_code == 503
    assert slow.headers["Retry-After"] == "1"
    assert slow.headers["Content-Type"] == "application/problem+json"
    assert took < 3 * STATEMENT_TIMEOUT_MS / 1000
    assert (created.status_code, ready.status_code) == (201, 200)
