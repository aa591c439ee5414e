"""Real server processes, PostgreSQL probes and the leak guard shared by the reliability and deployment tests.

Every server here is a subprocess started the way it is deployed (Hypercorn with ``hypercorn.toml``, Gunicorn with
``gunicorn.conf.py``), on a free loopback port, with its configuration in the environment only. It is always
stopped (SIGTERM, then SIGKILL) and its whole log is checked for leaks when it stops.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from cluster.processes import clean_env
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_KINDS = ("quart", "flask")
START_TIMEOUT = 30.0
# The guards the app_role_url fixture's role gets (deploy/app-role.sql's defaults are 5 s and 10 s).
STATEMENT_TIMEOUT_MS = 1000
IDLE_TIMEOUT_MS = 500
LEAK_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|pg_sleep|FOR UPDATE)\b")
# A database URL (not the words "a postgresql:// URL" of a message about one).
LEAK_DSN = re.compile(r"postgres(?:ql)?(?:\+\w+)?://\S+")
LEAK_MARKERS = ("Traceback (most recent call last)", 'File "/')
# Variables of the developer's or CI's shell that must not reach a server under test.


# -- leaks ---------------------------------------------------------------------------------------------------


def find_leaks(text: str, secrets: Sequence[str] = ()) -> list[str]:
    """What in ``text`` must never reach a client or a log: tracebacks, SQL, database URLs, the given secrets."""
    found = [marker for marker in LEAK_MARKERS if marker in text]
    found += sorted({match.group(0) for match in LEAK_SQL.finditer(text)})
    found += ["a database URL"] if LEAK_DSN.search(text) else []
    found += [f"secret #{index}" for index, secret in enumerate(secrets) if secret and secret in text]
    return found


def secrets_of(database_url: str) -> list[str]:
    """The strings of ``database_url`` that identify it: the URL itself and its password, if any."""
    url = make_url(database_url)
    return [database_url, *([url.password] if url.password else [])]


@dataclass
class LeakGuard:
    """Checks every response a client gets (an httpx event hook) and every server log it is shown."""

    secrets: list[str] = field(default_factory=list)
    checked_responses: int = 0

    def check(self, where: str, text: str) -> None:
        leaks = find_leaks(text, self.secrets)
        assert not leaks, f"{where} leaks {leaks}:\n{text[-3000:]}"

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.checked_responses += 1
        # /metrics is Prometheus text about the app, never an error; everything else is JSON or problem+json.
        self.check(f"{response.request.method} {response.request.url.path} ({response.status_code})", response.text)

    def client(self, base_url: str, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 30)
        return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [self.on_response]}, **kwargs)


# -- server processes ----------------------------------------------------------------------------------------


def server_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: this process's, less any service setting of the caller's shell, plus ``overrides``
    (the cluster's rule: a server gets exactly the settings its test gives it)."""
    return clean_env(overrides)


def server_command(kind: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """The deployed start command of ``kind`` ("quart": Hypercorn, "flask": Gunicorn) on 127.0.0.1:``port``."""
    bind = f"127.0.0.1:{port}"
    if kind == "quart":
        return [
            str(BIN / "python"),
            "-m",
            "service.quart_app.serve",
            "--config",
            "hypercorn.toml",
            "--bind",
            bind,
            *extra,
            "service.quart_app:create_app()",
        ]
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", bind, *extra]


@dataclass
class ServerProcess:
    """One running server; ``stop()`` is SIGTERM, a bounded wait, then SIGKILL."""

    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def terminate(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or ``None`` if it is still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait (Hypercorn and Gunicorn drain for up to their graceful timeout), else SIGKILL."""
        self.terminate()
        code = self.wait(timeout)
        if code is None:
            self.process.kill()
            code = self.process.wait(10)
        return code

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.kind} exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.kind} did not answer /health within {timeout} s:\n{self.log()[-4000:]}")


def start_server(
    kind: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    extra: Sequence[str] = (),
    command: Sequence[str] | None = None,
    port: int | None = None,
    user: str | None = None,
) -> ServerProcess:
    """Start ``kind`` with ``env`` (merged into :func:`server_env`); does not wait for it to answer."""
    port = port or free_port()
    overrides = dict(env)
    if kind == "flask":
        overrides.setdefault("GUNICORN_WORKERS", "2")
        overrides.setdefault("GUNICORN_THREADS", "8")
    log_path = log_dir / f"{kind}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command) if command is not None else server_command(kind, port, extra),
            cwd=ROOT,
            env=server_env(overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
        )
    return ServerProcess(kind, port, process, log_path)


@contextlib.contextmanager
def serving(
    kind: str,
    env: Mapping[str, str],
    log_dir: Path,
    guard: LeakGuard | None = None,
    *,
    extra: Sequence[str] = (),
) -> Iterator[ServerProcess]:
    """A healthy server for the block; stopped afterwards, whose log is then checked by ``guard``."""
    server = start_server(kind, env, log_dir, extra=extra)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()
        if guard is not None:
            guard.check(f"the {kind} server's log", server.log())


# -- PostgreSQL probes ---------------------------------------------------------------------------------------


def conninfo(url: str) -> str:
    """A libpq URL for psycopg from any SQLAlchemy-style URL (the password kept)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def query(url: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement in autocommit on ``url``; its rows (empty for a statement without result)."""
    with psycopg.connect(conninfo(url), autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def backends(server_url: str, application_name: str) -> list[tuple[int, str | None]]:
    """(pid, state) of every server process of the app, found by its ``application_name``."""
    rows = query(
        server_url,
        "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
        [application_name],
    )
    return [(int(pid), state) for pid, state in rows]


def terminate_backends(server_url: str, application_name: str) -> int:
    """``pg_terminate_backend`` of every connection of the app; how many were terminated."""
    rows = query(
        server_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        [application_name],
    )
    return sum(1 for (done,) in rows if done)


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> float | None:
    """Poll ``predicate()`` until it is true; the seconds it took, or ``None`` if ``timeout`` passed first."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)


# -- metrics -------------------------------------------------------------------------------------------------


def metric(text: str, name: str) -> float:
    """The sum of every sample named ``name`` (any labels) in a Prometheus text exposition; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def scrape(base_url: str, name: str) -> float:
    return metric(httpx.get(f"{base_url}/metrics", timeout=5).text, name)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def report(request: Any, **measured: Any) -> None:
    """Print what a test measured (shown with ``-rA`` or ``-s``) and keep it on the test's report."""
    text = ", ".join(f"{key}={value}" for key, value in measured.items())
    request.node.user_properties.append(("measured", text))
    print(f"\n[measured] {request.node.name}: {text}")
