"""Every way of not reaching the database is a 503 with ``Retry-After`` on both apps, through the deployed servers.

Each case is a real failure of its kind: a port nothing listens on, a unix socket directory that does not exist, a
host name DNS cannot resolve, a server that accepts TCP and never answers, a role whose connection limit is spent,
a database or a role that does not exist. asyncpg lets the socket's own ``OSError`` through while it connects and
reports the server's refusals with their SQLSTATE; psycopg turns every one into ``OperationalError``: both must end
as the same answer, and the URL's password may show nowhere.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from tests.support.processes import APP_KINDS, LeakGuard, query, report, serving

pytestmark = pytest.mark.slow

PASSWORD = "unreachable-Pa55"
CONNECT_TIMEOUT = 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener completes TCP handshakes (the kernel's backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


@pytest.fixture
def limited_role(database_url: str) -> Iterator[str]:
    """A login role whose connection limit is 0: PostgreSQL answers "too many connections" (53300) at once."""
    role = f"svc_full_{uuid.uuid4().hex[:8]}"
    query(database_url, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        yield role
    finally:
        query(database_url, f'DROP ROLE "{role}"')


def _tcp(url: URL, **parts: object) -> URL:
    """``url`` over TCP whatever it was (the embedded server's URL names its socket directory in the query)."""
    return url.set(query={}, **parts)  # type: ignore[arg-type]


CASES: dict[str, Callable[[pytest.FixtureRequest, URL], URL]] = {
    "refused": lambda request, url: _tcp(url, host="127.0.0.1", port=1),
    "no-such-socket": lambda request, url: url.set(host=None, port=None, query={"host": "/nonexistent", "port": "9"}),
    "dns-failure": lambda request, url: _tcp(url, host="db.invalid", port=5432),
    "timeout": lambda request, url: _tcp(url, host="127.0.0.1", port=request.getfixturevalue("silent_port")),
    "too-many-clients": lambda request, url: url.set(username=request.getfixturevalue("limited_role")),
    "no-such-database": lambda request, url: url.set(database=f"absent_{uuid.uuid4().hex[:8]}"),
    "no-such-role": lambda request, url: url.set(username=f"absent_{uuid.uuid4().hex[:8]}"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", APP_KINDS)
async def test_an_unreachable_database_is_503(
    request: pytest.FixtureRequest, kind: str, case: str, database_url: str, tmp_path: Path
) -> None:
    url = CASES[case](request, make_url(database_url).set(password=PASSWORD))
    rendered = url.render_as_string(hide_password=False)
    guard = LeakGuard(secrets=[PASSWORD, rendered])
    env = {
        "DATABASE_URL": rendered,
        "DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "RETRY_AFTER_SECONDS": "7",
        "DB_APPLICATION_NAME": f"unreachable-{kind}",
    }
    with serving(kind, env, tmp_path, guard) as server:
        async with guard.client(server.base_url, timeout=CONNECT_TIMEOUT * 5) as client:
            answers = [
                await client.get("/ready"),
                await client.get("/users/1"),
                await client.get("/users", params={"per_page": 2}),
                await client.post("/users", json={"email": "down@example.com", "name": "Down"}),
                await client.post("/products/1/reserve", json={"quantity": 1}),
            ]
            health = await client.get("/health")
    report(request, statuses=[answer.status_code for answer in answers])
    assert health.status_code == 200, "/health does not touch the database"
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path}"
        assert answer.status_code == 503, f"{where}: {answer.status_code} {answer.text}"
        assert answer.headers["Retry-After"] == "7", where
        assert answer.headers["Content-Type"] == "application/problem+json", where
