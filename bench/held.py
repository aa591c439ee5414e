"""Many TCP connections to an HTTP server, held open by a separate process (issue #14: slow clients, memory).

A benchmark that wants N slow or idle clients next to its load must not pay for them itself: a thousand sockets in
the harness would eat its file descriptors, and serving them would steal CPU from wrk. So they live in a child
process, ``python -m bench.held --host H --port P --count N --mode M``, that speaks a line protocol:

* it opens the connections, 100 at a time (never more than a listen backlog holds), then prints ``ready <opened>``;
* then reads commands from stdin, one per line: ``count`` prints ``open <n>``, the number of its sockets the server
  has not closed yet; ``quit``, or stdin closed, closes every socket and exits 0.

Modes: ``stalled`` is a slowloris client, stopped in the middle of its request headers and never reading;
``idle`` is a keep-alive client that got its answer and sends nothing more. :func:`held_connections` runs the child.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Literal, get_args

Mode = Literal["stalled", "idle"]

ROOT = Path(__file__).resolve().parents[1]

# Half a header and no CRLF after it: the server is left waiting for the rest of the request head.
STALLED_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: stall\r\nX-Stall: "
IDLE_REQUEST = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BATCH = 100
MAX_HEAD = 64 * 1024
# Beyond ``timeout`` (the opening phase, in the child): the interpreter's own start and its ``ready`` line.
START_GRACE = 10.0
COMMAND_TIMEOUT = 10.0
QUIT_TIMEOUT = 5.0


class HeldConnections:
    """The harness's handle on the child process holding the connections."""

    def __init__(self, process: subprocess.Popen[bytes], requested: int, opened: int) -> None:
        self._process = process
        self.requested = requested
        self.opened = opened

    @property
    def pid(self) -> int:
        """The holding process, e.g. to measure it apart from the server."""
        return self._process.pid

    def still_open(self) -> int:
        """How many of the held connections the server has not closed: whether it times slow clients out."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        try:
            self._process.stdin.write(b"count\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(f"bench.held exited with {self._process.poll()}") from None
        word, _, number = _read_line(self._process.stdout, time.monotonic() + COMMAND_TIMEOUT).partition(" ")
        if word != "open":
            raise RuntimeError(f"bench.held answered {word} {number!r} to count")
        return int(number)


@contextmanager
def held_connections(
    host: str, port: int, count: int, mode: Mode, *, timeout: float = 30.0
) -> Iterator[HeldConnections]:
    """Hold ``count`` connections to host:port in a child process for the duration of the block.

    Connections that could not be opened within ``timeout`` are left out of ``opened`` rather than raised: how many
    a server accepts is a measurement. A child that does not print ``ready`` within ``timeout`` plus
    :data:`START_GRACE` (its interpreter's start), or dies, is a ``RuntimeError`` carrying its stderr.
    On exit the child is always stopped (``quit``, then killed after a bounded wait).
    """
    if mode not in get_args(Mode):
        raise ValueError(f"mode must be one of {get_args(Mode)}, not {mode!r}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "bench.held", "--host", host, "--port", str(port), "--count", str(count)]
    command += ["--mode", mode, "--timeout", str(timeout)]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        try:
            assert process.stdout is not None
            try:
                word, _, number = _read_line(process.stdout, time.monotonic() + timeout + START_GRACE).partition(" ")
                if word != "ready":
                    raise RuntimeError(f"expected 'ready <n>', got {word} {number!r}")
            except RuntimeError as exc:
                _stop(process)
                stderr.seek(0)
                detail = stderr.read().decode(errors="replace")
                raise RuntimeError(f"bench.held did not get ready: {exc}\n{detail}") from None
            yield HeldConnections(process, count, int(number))
        finally:
            _stop(process)


def _read_line(stream: IO[bytes], deadline: float) -> str:
    """One line from the child's stdout, read byte-wise from the pipe so that ``select`` sees what is pending."""
    line = bytearray()
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            raise RuntimeError("bench.held did not answer in time")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            raise RuntimeError("bench.held exited")
        line += byte
    return line.decode().strip()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(OSError):
            assert process.stdin is not None
            process.stdin.write(b"quit\n")
            process.stdin.close()
        try:
            process.wait(QUIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with suppress(OSError):
                pipe.close()


# -- the child -----------------------------------------------------------------------------------------------


async def _response_read(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bool:
    """Read one whole response (head, then a Content-Length body); False if the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk or len(data) > MAX_HEAD:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            return False
        body += chunk
    return True


async def _open_one(host: str, port: int, mode: Mode) -> socket.socket | None:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
        if mode == "stalled":
            await loop.sock_sendall(sock, STALLED_REQUEST)
        else:
            await loop.sock_sendall(sock, IDLE_REQUEST)
            if not await _response_read(loop, sock):
                raise ConnectionError("no complete response")
    except (OSError, ValueError):
        sock.close()
        return None
    except asyncio.CancelledError:  # past the deadline
        sock.close()
        raise
    return sock


async def open_all(host: str, port: int, count: int, mode: Mode, budget: float) -> list[socket.socket]:
    """Open the connections in batches; whatever is not done within ``budget`` seconds is closed, not counted."""
    deadline = asyncio.get_running_loop().time() + budget
    opened: list[socket.socket] = []
    for start in range(0, count, BATCH):
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        tasks = [asyncio.create_task(_open_one(host, port, mode)) for _ in range(min(BATCH, count - start))]
        done, pending = await asyncio.wait(tasks, timeout=remaining)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        opened += [sock for task in done if (sock := task.result()) is not None]
    return opened


def is_open(sock: socket.socket) -> bool:
    """Whether the server has not closed it, without blocking: EOF or a reset means closed.

    Anything the server sent (an error answer before closing) is read and dropped, so that a FIN behind it is seen.
    """
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def _drop_closed(sockets: list[socket.socket]) -> list[socket.socket]:
    still = []
    for sock in sockets:
        if is_open(sock):
            still.append(sock)
        else:
            sock.close()  # its descriptor back, and counted once
    return still


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str]) -> int:
    """Open, report ``ready <n>``, answer ``count`` until ``quit`` or the end of stdin."""
    parser = argparse.ArgumentParser(prog="python -m bench.held", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--mode", choices=get_args(Mode), required=True)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole opening phase")
    options = parser.parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group: the harness decides when this process goes (its stdin
    # closes with it), not the signal, which would leave a traceback in the middle of its own cleanup.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_fd_limit()
    sockets = asyncio.run(open_all(options.host, options.port, options.count, options.mode, options.timeout))
    print(f"ready {len(sockets)}", flush=True)
    try:
        for line in sys.stdin:  # blocks between commands: no CPU spent while holding
            command = line.strip()
            if command == "quit":
                break
            if command == "count":
                sockets = _drop_closed(sockets)
                print(f"open {len(sockets)}", flush=True)
            else:
                print(f"error unknown command {command!r}", flush=True)
    finally:
        for sock in sockets:
            sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
