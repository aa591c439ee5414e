"""``bench.reuseport``: N Hypercorn processes on one port, each with its own SO_REUSEPORT socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def launcher() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [sys.executable, "-m", "bench.reuseport", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    command += ["--", "--graceful-timeout", "2", "tests.bench.pid_app:app"]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    # Started means both processes answer (a signal before Hypercorn installs its handlers would just kill it).
    deadline = time.monotonic() + 30
    seen: set[int] = set()
    while len(seen) < 2:
        assert process.poll() is None, "the launcher exited"
        assert time.monotonic() < deadline, f"the launcher did not start both processes (answered: {seen})"
        try:
            seen.add(int(httpx.get(base_url, timeout=1).text))
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield process, base_url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _workers(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return psutil.Process(process.pid).children()


def test_connections_are_spread_over_the_processes(launcher: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base_url = launcher
    # Each client is a new connection: the kernel picks a socket (a process) by a hash of the address pair.
    answers = [int(httpx.get(base_url, timeout=5).text) for _ in range(40)]
    assert set(answers) == {worker.pid for worker in _workers(process)}
    assert min(answers.count(pid) for pid in set(answers)) >= 8  # spread, not one process taking nearly all


def test_sigterm_stops_every_process_with_exit_0(launcher: tuple[subprocess.Popen[bytes], str]) -> None:
    process, _ = launcher
    workers = _workers(process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert not [worker for worker in workers if worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE]


def test_a_dead_worker_stops_the_server_with_a_failure(launcher: tuple[subprocess.Popen[bytes], str]) -> None:
    process, _ = launcher
    first, second = _workers(process)
    first.kill()
    assert process.wait(30) != 0  # not measured half-dead
    second.wait(30)
