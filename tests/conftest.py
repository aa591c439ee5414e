"""Fixtures: a real PostgreSQL (TEST_DATABASE_URL, else an embedded one), migrated once into a template; each
app test gets a database of its own cloned from it, each repository test a transaction that is rolled back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from service.config import PoolSettings, Settings
from service.db.engine import async_url
from service.db.soft_delete import install_soft_delete
from service.quart_app.extension import QuartSession
from tests.support.servers import LiveServer, serve_flask, serve_quart

ROOT = Path(__file__).resolve().parent.parent


# What no error body and no log line may carry: tracebacks, SQL, driver/ORM names, file paths, URLs.
LEAK_MARKERS = (
    "Traceback",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "asyncpg",
    "psycopg",
    "sqlalchemy",
    'File "',
    "postgresql://",
)


@pytest.fixture(autouse=True)
def no_leaks_in_logs(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> Iterator[None]:
    """Across the whole suite, no log record of the service carries a traceback or a database URL."""
    yield
    for record in caplog.get_records("call"):
        if not record.name.startswith("service"):
            continue
        assert not record.exc_info, f"{record.name} logged a traceback: {record.getMessage()}"
        message = record.getMessage()
        assert "postgresql://" not in message, f"{record.name} logged a database URL"
        if record.name != "service.slow_queries":  # statements are that logger's purpose (parameters never are)
            for word in LEAK_MARKERS:
                assert word not in message, f"{record.name} logged {word!r}: {message[:300]}"


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: sql.Composable) -> None:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement)


@dataclass(frozen=True)
class DatabaseServer:
    """The PostgreSQL server of the run, the same shape whatever its origin.

    ``url`` is always TCP on loopback (superuser ``postgres``, trust), so whatever speaks only TCP — PgBouncer, the
    outage tests' proxy, a second role — reaches it the same way. ``log_path`` is its log where this process can
    read it (``None``: unknown; tests that read it say so).
    """

    url: str
    log_path: Path | None


def _external_log(url: str) -> Path | None:
    """TEST_DATABASE_LOG, else the newest readable Debian cluster log when the server is this machine's."""
    if os.environ.get("TEST_DATABASE_LOG"):
        return Path(os.environ["TEST_DATABASE_LOG"])
    if make_url(url).host not in ("127.0.0.1", "localhost", "::1"):
        return None
    logs = [path for path in Path("/var/log/postgresql").glob("postgresql-*.log") if os.access(path, os.R_OK)]
    return max(logs, key=lambda path: path.stat().st_mtime) if logs else None


@pytest.fixture(scope="session")
def database_server() -> Iterator[DatabaseServer]:
    """TEST_DATABASE_URL, or (the README's ``make test``) an embedded PostgreSQL from the pgserver wheel."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield DatabaseServer(url, _external_log(url))
        return
    from devdb import start_embedded

    # Not under pytest's tmp_path: a concurrent pytest run resets /tmp/pytest-of-<user> to mode 0700, and the
    # embedded server (running as its own system user when we are root) would lose its data directory.
    data_dir = Path(tempfile.mkdtemp(prefix="service-tests-pg-"))
    server = start_embedded(data_dir, tcp=True)
    try:
        # Debian's log line prefix, so that a test can tell its own database's lines in the log.
        _admin(server.tcp_url, sql.SQL("ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d '"))
        _admin(server.tcp_url, sql.SQL("SELECT pg_reload_conf()"))
        yield DatabaseServer(server.tcp_url, server.log_path)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url(database_server: DatabaseServer) -> str:
    """The URL of the run's PostgreSQL server (its ``postgres`` database), as its superuser."""
    return database_server.url


@pytest.fixture(scope="session")
def template_url(server_url: str) -> Iterator[str]:
    """A database migrated to head by the real ``alembic upgrade head``; cloned for every app test."""
    name = f"svc_tmpl_{os.getpid()}"
    _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(server_url, name)
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"], cwd=ROOT, check=True, timeout=120
    )
    try:
        yield url
    finally:
        _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def clone_database(server_url: str, template_url: str) -> str:
    name = f"svc_t_{uuid.uuid4().hex[:12]}"
    template = make_url(template_url).database
    _admin(
        server_url,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(str(template))),
    )
    return _with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    name = str(make_url(url).database)
    _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(server_url: str, template_url: str) -> Iterator[str]:
    """A migrated database of this test's own, dropped afterwards."""
    url = clone_database(server_url, template_url)
    try:
        yield url
    finally:
        drop_database(server_url, url)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """An empty database (no schema) of this test's own, dropped afterwards: for tests that migrate it themselves."""
    name = f"svc_empty_{uuid.uuid4().hex[:12]}"
    _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(server_url, name)
    finally:
        _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def make_settings(database_url: str, **overrides: object) -> Settings:
    pool = overrides.pop("pool", PoolSettings(pool_size=5, max_overflow=10, pool_timeout=5))
    values: dict[str, object] = {
        "database_url": database_url,
        "pool": pool,
        "retry_base_delay": 0.001,
        "retry_max_delay": 0.02,
        "application_name": "service-tests",
        # In-process apps share the test runner's heap: freezing it at every app start would keep every cycle
        # alive that much longer. Served apps (tests/deploy, tests/reliability) freeze as deployed.
        "gc_freeze": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A separate engine on the test's database, for looking behind the app's back."""
    engine = create_async_engine(async_url(database_url), pool_size=2)
    yield engine
    await engine.dispose()


# -- transaction-per-test sessions (repository and model tests) ----------------------------------------------


@pytest.fixture(scope="session")
async def shared_engine(server_url: str, template_url: str) -> AsyncIterator[AsyncEngine]:
    url = clone_database(server_url, template_url)
    engine = create_async_engine(async_url(url), pool_size=2)
    yield engine
    await engine.dispose()
    drop_database(server_url, url)


@pytest.fixture
async def db_session(shared_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose every commit is a savepoint inside a transaction rolled back after the test."""
    install_soft_delete(QuartSession)
    async with shared_engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn,
            expire_on_commit=False,
            join_transaction_mode="create_savepoint",
            sync_session_class=QuartSession,
        )
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


# -- the apps under test, as real servers ------------------------------------------------------------------

# TEST_APPS=quart runs the API suite against one app only (while working on it); CI runs both.
APP_KINDS = [kind for kind in os.environ.get("TEST_APPS", "quart,flask").split(",") if kind]


@pytest.fixture(params=APP_KINDS)
async def live_server(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[LiveServer]:
    """Each API test runs once per app: the async service and the sync twin."""
    serve = serve_quart if request.param == "quart" else serve_flask
    async with serve(settings) as server:
        yield server


@pytest.fixture
async def quart_server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with serve_quart(settings) as server:
        yield server


@pytest.fixture
async def client(live_server: LiveServer, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app under test that fails the test when an error body leaks internals."""

    async def no_leak(response: httpx.Response) -> None:
        if response.headers.get("Content-Type") == "application/problem+json":
            text = (await response.aread()).decode(errors="replace")
            for word in (*LEAK_MARKERS, database_url):
                assert word not in text, f"problem body of {response.request.url} leaks {word!r}: {text[:300]}"

    async with httpx.AsyncClient(
        base_url=live_server.base_url, timeout=30, event_hooks={"response": [no_leak]}
    ) as client:
        yield client


@pytest.fixture
async def quart_client(quart_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=quart_server.base_url, timeout=30) as client:
        yield client
