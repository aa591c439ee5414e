"""``bench.held``: many connections held open from a child process, against a real Hypercorn on loopback."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bench.held import Mode, held_connections
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _health(url: str, timeout: float = 5) -> tuple[int, object]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def hypercorn(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``hypercorn tests.bench.health_app:app`` with extra flags; every server is stopped afterwards."""
    servers: list[Server] = []

    def start(*flags: str) -> Server:
        port = free_port()
        command = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", *flags]
        log = tmp_path / f"hypercorn-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "tests.bench.health_app:app"],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, port)
        servers.append(server)
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"hypercorn did not answer /health\n{log.read_text()}"
            with suppress(OSError):
                assert _health(server.url, timeout=1) == (200, {"status": "ok"})
                return server
            time.sleep(0.1)

    yield start
    for server in servers:
        server.stop()


def _our_holders() -> list[psutil.Process]:
    """``bench.held`` processes started by this test process and still alive."""
    holders = []
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.Error):
            if "bench.held" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                holders.append(child)
    return holders


def _wait_for_open(held_still_open: Callable[[], int], expected: int, within: float) -> int:
    deadline = time.monotonic() + within
    while (seen := held_still_open()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


def test_idle_connections_stay_open_until_the_server_stops(hypercorn: Callable[..., Server]) -> None:
    server = hypercorn("--keep-alive", "60")
    with held_connections("127.0.0.1", server.port, 50, "idle") as held:
        assert (held.requested, held.opened) == (50, 50)  # each got its whole answer (read through Content-Length)
        assert held.still_open() == 50
        server.stop()  # closes idle keep-alive connections
        assert _wait_for_open(held.still_open, 0, within=10) == 0


def test_stalled_connections_do_not_block_an_async_server(hypercorn: Callable[..., Server]) -> None:
    server = hypercorn("--keep-alive", "60")
    with held_connections("127.0.0.1", server.port, 50, "stalled") as held:
        assert held.opened == 50
        holder = psutil.Process(held.pid)
        started = time.monotonic()
        assert _health(server.url) == (200, {"status": "ok"})
        assert time.monotonic() - started < 3
        assert held.still_open() == 50
        assert held.still_open() == 50  # a count does not close anything
    assert not holder.is_running()
    assert _our_holders() == []


def test_hypercorn_closes_a_stalled_connection_at_its_keep_alive_timeout(hypercorn: Callable[..., Server]) -> None:
    """What closes a client stalled in its request head in Hypercorn 0.18 (asyncio and uvloop workers).

    Found by experiment and in ``hypercorn/asyncio/tcp_server.py``: the idle timer, ``keep_alive_timeout``. It is
    started when the connection is accepted and stopped only when a *complete* request head has been parsed, so it
    bounds a stalled head counted from the connect; bytes trickled in meanwhile do not restart it. ``read_timeout``
    does not close the connection: it ends the read loop, but the connection's task group then waits for that same
    idle timer before closing the socket (here: a 1 s read timeout, and the connections are still open at 2 s).
    A head over ``h11_max_incomplete_size`` (16 KiB) is answered 431 and closed at once; a slowloris never sends that
    much. With the deployed ``keep_alive_timeout = 65`` a stalled client is thus held up to 65 s.
    """
    server = hypercorn("--keep-alive", "5", "--read-timeout", "1")
    with held_connections("127.0.0.1", server.port, 20, "stalled") as held:
        ready = time.monotonic()  # every connect happened before this
        assert held.opened == 20
        time.sleep(2)
        assert held.still_open() == 20  # past the read timeout: still open
        assert _wait_for_open(held.still_open, 0, within=10) == 0
        assert time.monotonic() - ready > 2.5  # closed by the 5 s timer, not at once


def test_nothing_listening_opens_nothing() -> None:
    with held_connections("127.0.0.1", free_port(), 20, "stalled") as held:
        assert (held.requested, held.opened) == (20, 0)
        assert held.still_open() == 0


def test_the_timeout_bounds_the_opening_phase() -> None:
    """A server that accepts connections (in its backlog) but never answers: idle clients never get their answer."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        started = time.monotonic()
        with held_connections("127.0.0.1", listener.getsockname()[1], 10, "idle", timeout=1) as held:
            assert held.opened == 0
        assert time.monotonic() - started < 8


def test_a_child_that_fails_is_an_error_with_its_stderr() -> None:
    with pytest.raises(RuntimeError, match="port must be 0-65535"):  # raised in the child, by its connect
        with held_connections("127.0.0.1", 70000, 1, "stalled"):
            pass
    assert _our_holders() == []


def test_the_child_is_stopped_when_the_block_raises(hypercorn: Callable[..., Server]) -> None:
    server = hypercorn("--keep-alive", "60")
    holders: list[psutil.Process] = []

    def hold_and_fail() -> None:
        with held_connections("127.0.0.1", server.port, 5, "idle") as held:
            holders.append(psutil.Process(held.pid))
            raise LookupError("the benchmark failed")

    with pytest.raises(LookupError, match="the benchmark failed"):
        hold_and_fail()
    assert len(holders) == 1
    assert not holders[0].is_running()
    assert _our_holders() == []


@pytest.mark.parametrize("mode", ["stalled", "idle"])
def test_1200_connections_from_a_default_descriptor_limit(hypercorn: Callable[..., Server], mode: Mode) -> None:
    """The child raises its own soft RLIMIT_NOFILE: inherited at the common default of 1024, it still opens 1200."""
    server = hypercorn("--keep-alive", "60")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1300:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is below 1300")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        with held_connections("127.0.0.1", server.port, 1200, mode) as held:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            assert held.opened == 1200
            assert held.still_open() == 1200
            assert psutil.Process(held.pid).num_fds() > 1200
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
