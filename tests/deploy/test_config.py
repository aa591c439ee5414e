"""Configuration comes from the environment only, is validated at start, and the database password never shows.

Real start commands, real processes: the image's ``docker-entrypoint.sh serve``, Gunicorn with ``gunicorn.conf.py``
and Hypercorn with ``hypercorn.toml``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.conftest import _admin
from tests.support.processes import (
    APP_KINDS,
    BIN,
    ROOT,
    LeakGuard,
    find_leaks,
    report,
    server_command,
    serving,
    start_server,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

PASSWORD = "s3cr3t-Pa55w0rd"
EXIT_WITHIN = 20.0


def _start_command(how: str, port: int) -> list[str]:
    if how == "entrypoint":
        return ["sh", str(ROOT / "docker-entrypoint.sh"), "serve"]
    return server_command("quart" if how == "hypercorn" else "flask", port)


# (variable, bad value): each must stop the start, named in one line.
BAD_SETTINGS = [
    ("DB_POOL_SIZE", "abc"),
    ("DB_POOL_TIMEOUT", "-1"),
    ("DB_PGBOUNCER", "session"),
    ("DATABASE_URL", f"mysql://app:{PASSWORD}@db.example/app"),
]


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS, ids=[name for name, _ in BAD_SETTINGS])
@pytest.mark.parametrize("how", ["entrypoint", "gunicorn", "hypercorn"])
def test_a_bad_variable_stops_the_start_naming_it(
    request: pytest.FixtureRequest, how: str, variable: str, value: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": f"postgresql://app:{PASSWORD}@127.0.0.1:9/app",
        variable: value,
        "PATH": f"{BIN}:/usr/bin:/bin",
        "HYPERCORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    server = start_server(how, env, tmp_path, command=_start_command(how, port), port=port)
    try:
        code = server.wait(EXIT_WITHIN)
    finally:
        server.stop(5)
    log = server.log()
    lines = [line for line in log.splitlines() if variable in line]
    report(request, exit_code=code, message=lines[-1] if lines else None)
    assert code not in (None, 0), f"still running or exited 0:\n{log[-2000:]}"
    assert lines, log[-2000:]
    assert find_leaks(log, [PASSWORD, value if variable == "DATABASE_URL" else PASSWORD]) == []


@pytest.fixture
def password_role(server_url: str, database_url: str) -> Iterator[str]:
    """A login role with a password and the app's privileges on the test's database; its URL, password included.

    The cluster trusts local connections, so the password is not checked: what matters is that it is in the URL.
    """
    role = f"svc_pw_{uuid.uuid4().hex[:8]}"
    _admin(server_url, sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD)))
    grants = sql.SQL(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};"
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"
    ).format(role=sql.Identifier(role))
    _admin(database_url, grants)
    try:
        yield make_url(database_url).set(username=role, password=PASSWORD).render_as_string(hide_password=False)
    finally:
        _admin(database_url, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        _admin(server_url, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize("target", ["unreachable", "working"])
@pytest.mark.parametrize("kind", APP_KINDS)
async def test_the_password_never_appears_in_logs_or_responses(
    request: pytest.FixtureRequest, kind: str, target: str, tmp_path: Path, database_url: str
) -> None:
    if target == "working":
        url = request.getfixturevalue("password_role")
    else:
        url = (
            make_url(database_url).set(username="app", password=PASSWORD, port=9).render_as_string(hide_password=False)
        )
    guard = LeakGuard(secrets=[PASSWORD, url])
    env = {"DATABASE_URL": url, "DB_CONNECT_TIMEOUT": "2", "DB_APPLICATION_NAME": f"cfg-{kind}"}
    with serving(kind, env, tmp_path, guard) as server:
        async with guard.client(server.base_url, timeout=10) as client:
            answers = [
                (await client.get("/ready")).status_code,
                (await client.post("/users", json={"email": "pw@example.com", "name": "Pw"})).status_code,
                (await client.get("/users/lookup", params={"email": "pw@example.com"})).status_code,
                (await client.get("/users/424242")).status_code,
                (await client.post("/users", content=b"{", headers={"Content-Type": "application/json"})).status_code,
                (await client.get("/metrics")).status_code,
            ]
    log = server.log()
    report(request, statuses=answers, responses_checked=guard.checked_responses)
    # The access log has the path only: the looked-up e-mail address (a query parameter) is not in it.
    assert "/users/lookup" in log
    assert "pw@example.com" not in log
    expected = [503, 503, 503, 503, 400, 200] if target == "unreachable" else [200, 201, 200, 404, 400, 200]
    assert answers == expected
