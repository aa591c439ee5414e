"""The async service behind PgBouncer in transaction mode: the DB_PGBOUNCER=transaction preset is what makes it work.

8 concurrent clients x 200 requests through the real service, its pool (8) larger than PgBouncer's (2), so the
service's connections keep landing on other server connections. With the preset: not one error. Without it, the
same run fails (asyncpg's per-connection prepared statements meet the wrong server connection): the test can fail.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import DatabaseServer
from tests.reliability.pgbouncer import deploy_settings, running_pgbouncer
from tests.support.ci import missing
from tests.support.processes import LeakGuard, report, serving

pytestmark = pytest.mark.slow

CLIENTS = 8
REQUESTS_PER_CLIENT = 200


class PostgresLog:
    """New lines of the test server's log: what PostgreSQL itself said about the run (its SQLSTATE messages)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size

    def count(self, database: str, needle: str) -> int:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        # Lines carry user@database (Debian's log_line_prefix; the embedded server is given the same one).
        return sum(1 for line in text.splitlines() if f"@{database} " in line and needle in line)


@pytest.fixture
def postgres_log(database_server: DatabaseServer) -> PostgresLog:
    if database_server.log_path is None or not os.access(database_server.log_path, os.R_OK):
        missing("the test server's log is not readable here: set TEST_DATABASE_LOG to its path")
    return PostgresLog(database_server.log_path)


def test_deploy_config_pools_transactions() -> None:
    """The compose file's PgBouncer runs transaction pooling: the mode the preset exists for."""
    assert deploy_settings()["pgbouncer"]["pool_mode"] == "transaction"


@pytest.fixture
def bouncer_url(app_role_url: str) -> Iterator[str]:
    """The app role's URL, through a PgBouncer (deploy config) with a pool of 2 server connections."""
    url = make_url(app_role_url)
    with running_pgbouncer(
        url.host or "127.0.0.1", url.port or 5432, str(url.username), str(url.password), pool_size=2
    ) as bouncer:
        yield url.set(host="127.0.0.1", port=bouncer.port).render_as_string(hide_password=False)


@pytest.mark.parametrize("preset", ["transaction", None], ids=["with-preset", "without-preset"])
async def test_transaction_pooling_needs_the_preset(
    request: pytest.FixtureRequest,
    preset: str | None,
    bouncer_url: str,
    postgres_log: PostgresLog,
    tmp_path: Path,
    guard: LeakGuard,
) -> None:
    guard.secrets.append(bouncer_url)
    env = {
        "DATABASE_URL": bouncer_url,
        "DB_APPLICATION_NAME": "rel-pgbouncer",
        "DB_POOL_SIZE": str(CLIENTS),
        "DB_MAX_OVERFLOW": "0",
        **({"DB_PGBOUNCER": preset} if preset else {}),
    }
    database = str(make_url(bouncer_url).database)
    with serving("quart", env, tmp_path, guard) as server:
        async with guard.client(server.base_url, timeout=30) as client:
            created = await client.post("/users", json={"email": "pool@example.com", "name": "Pool"})
            user = created.json().get("id", 1)
            statuses: Counter[int | str] = Counter({created.status_code: 1})

            async def client_loop(number: int) -> None:
                for index in range(REQUESTS_PER_CLIENT):
                    # A one-statement read and a two-statement transaction (page and count), in turn.
                    path = f"/users/{user}" if (index + number) % 2 else "/users?per_page=5"
                    try:
                        statuses[(await client.get(path)).status_code] += 1
                    except httpx.TransportError as exc:
                        statuses[type(exc).__name__] += 1

            start = time.monotonic()
            await asyncio.gather(*(client_loop(number) for number in range(CLIENTS)))
            elapsed = time.monotonic() - start
    errors = sum(count for status, count in statuses.items() if status not in (200, 201))
    prepared_errors = postgres_log.count(database, "ERROR:  prepared statement")
    report(
        request,
        requests=sum(statuses.values()),
        statuses=dict(statuses),
        errors=errors,
        prepared_statement_errors_in_postgres_log=prepared_errors,
        requests_per_s=round(CLIENTS * REQUESTS_PER_CLIENT / elapsed),
    )
    if preset:
        assert errors == 0
        assert prepared_errors == 0
    else:
        assert errors > 0, "without the preset asyncpg should have met another connection's prepared statements"
        assert prepared_errors > 0, "PostgreSQL's log should show the prepared-statement errors the clients saw"
