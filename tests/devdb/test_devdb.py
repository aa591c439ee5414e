"""The embedded PostgreSQL of ``devdb``: real servers in tmp dirs, real clients, real signals."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine

from devdb import start_embedded

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60.0  # upper bound for any start/run/exit; a start normally takes about a second

QUERY_SCRIPT = """
import os, psycopg
url = os.environ["DATABASE_URL"]
print("url=" + url)
with psycopg.connect(url, connect_timeout=10) as conn:
    print("data_directory=" + conn.execute("show data_directory").fetchone()[0])
raise SystemExit(7)
"""


def _alive(proc: psutil.Process) -> bool:
    # A stopped postmaster is reparented to PID 1 and may stay a zombie until it is reaped: that is not running.
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postmasters started on ``data_dir`` (matched on their ``-D`` argument) and their children."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(arg == "-D" and value == str(data_dir) for arg, value in itertools.pairwise(cmdline)) and _alive(proc):
            found.append(proc)
            with contextlib.suppress(psutil.NoSuchProcess):
                found.extend(child for child in proc.children(recursive=True) if _alive(child))
    return found


def _env_without_database_url() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}


def _devdb_run(data_dir: Path, *command: str) -> list[str]:
    return [sys.executable, "-m", "devdb", "run", "--data-dir", str(data_dir), "--", *command]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir; whatever a failing test leaves running on it is killed, so no postmaster leaks."""
    path = (tmp_path / "pg").resolve()
    yield path
    leftovers = postgres_processes(path)
    for proc in leftovers:
        proc.kill()
    psutil.wait_procs(leftovers, timeout=10)


async def _async_select(url: str) -> tuple[int, str]:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1), connect_args={"timeout": 10})
    try:
        async with engine.connect() as conn:
            one = (await conn.execute(text("select 1"))).scalar_one()
            data_directory = (await conn.execute(text("show data_directory"))).scalar_one()
            return one, data_directory
    finally:
        await engine.dispose()


def test_start_embedded_serves_psycopg_and_asyncpg_and_stop_leaves_no_process(data_dir: Path) -> None:
    started = time.monotonic()
    pg = start_embedded(data_dir)
    try:
        assert time.monotonic() - started < TIMEOUT
        assert pg.url.startswith("postgresql://")
        processes = postgres_processes(data_dir)
        assert pg.pid in {proc.pid for proc in processes}

        engine = create_engine(
            pg.url.replace("postgresql://", "postgresql+psycopg://", 1), connect_args={"connect_timeout": 10}
        )
        try:
            with engine.connect() as conn:
                assert conn.execute(text("select 1")).scalar_one() == 1
                # Proves we reached this server and not, say, a system PostgreSQL on the default socket.
                assert conn.execute(text("show data_directory")).scalar_one() == str(data_dir)
        finally:
            engine.dispose()

        assert asyncio.run(asyncio.wait_for(_async_select(pg.url), TIMEOUT)) == (1, str(data_dir))
    finally:
        pg.stop()

    assert [proc.pid for proc in processes if _alive(proc)] == []
    assert postgres_processes(data_dir) == []
    pg.stop()  # idempotent


def test_run_exports_database_url_propagates_exit_code_and_stops_server(data_dir: Path) -> None:
    result = subprocess.run(
        _devdb_run(data_dir, sys.executable, "-c", QUERY_SCRIPT),
        check=False,
        cwd=ROOT,
        env=_env_without_database_url(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 7, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("url=postgresql://")
    assert lines[1] == f"data_directory={data_dir}"
    assert postgres_processes(data_dir) == []


@pytest.mark.parametrize(("sig", "exit_code"), [(signal.SIGTERM, 128 + 15), (signal.SIGINT, 128 + 2)])
def test_signal_to_run_stops_child_and_server(data_dir: Path, sig: signal.Signals, exit_code: int) -> None:
    runner = subprocess.Popen(
        _devdb_run(data_dir, "sleep", "60"),
        cwd=ROOT,
        env=_env_without_database_url(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # The child is only started once the server accepts connections.
        deadline = time.monotonic() + TIMEOUT
        children: list[psutil.Process] = []
        while not children:
            assert runner.poll() is None, "runner exited before starting its command"
            assert time.monotonic() < deadline, "server/command did not start in time"
            time.sleep(0.1)
            children = [c for c in psutil.Process(runner.pid).children() if c.name() == "sleep"]
        servers = postgres_processes(data_dir)
        assert servers

        runner.send_signal(sig)
        assert runner.wait(timeout=TIMEOUT) == exit_code
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=TIMEOUT)

    assert [proc.pid for proc in [*children, *servers] if _alive(proc)] == []
    assert postgres_processes(data_dir) == []


def test_run_with_database_url_set_passes_it_through_without_embedded_server(data_dir: Path) -> None:
    url = "postgresql://app@db.invalid:5432/app"
    result = subprocess.run(
        _devdb_run(data_dir, sys.executable, "-c", "import os; print(os.environ['DATABASE_URL'])"),
        check=False,
        cwd=ROOT,
        env={**_env_without_database_url(), "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == url
    assert "embedded" not in result.stderr
    assert not data_dir.exists()
