"""N single-process Hypercorn servers, each accepting on its own ``SO_REUSEPORT`` socket bound to one address.

Hypercorn's ``--workers N`` binds one socket in its supervisor and shares it: every worker's event loop accepts
from it, and asyncio accepts all pending connections at each wake-up, so with keep-alive clients one worker can end
up with most connections while the other idles (the 2-worker Hypercorn cells of the first report used 85-90 % of
one core of two). With one socket per process the kernel spreads new connections across the processes by a hash of
the address pair — what N replicas behind a balancer get as well. Gunicorn's sync workers need no such help: each
accepts one connection at a time.

    python -m bench.reuseport --workers 2 --bind 127.0.0.1:8000 [--module service.quart_app.serve] -- \
        --worker-class uvloop APP

Everything after ``--`` goes to each server process (``python -m MODULE``, Hypercorn's CLI by default;
``--workers 0`` and ``--bind fd://…`` are added). SIGTERM and
SIGINT are passed on to every process; the exit code is the first non-zero one of theirs. If one process exits,
the others are stopped too: a half-dead server must not be measured.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

STOP_TIMEOUT = 30.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket that other processes can bind to the same address too."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(argv: list[str]) -> int:
    """Start the processes, forward stop signals, and wait for all of them."""
    parser = argparse.ArgumentParser(prog="python -m bench.reuseport", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--bind", required=True, help="host:port")
    parser.add_argument("--module", default="hypercorn", help="what each process runs with -m")
    parser.add_argument("hypercorn_args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    host, _, port = options.bind.rpartition(":")
    extra = [arg for arg in options.hypercorn_args if arg != "--"]
    sockets = [reuseport_socket(host.strip("[]"), int(port)) for _ in range(options.workers)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", options.module, "--workers", "0", "--bind", f"fd://{sock.fileno()}", *extra],
            pass_fds=(sock.fileno(),),
        )
        for sock in sockets
    ]
    for sock in sockets:
        sock.close()  # each child holds its own copy

    stopping = False

    def stop(signum: int, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(process.poll() is None for process in processes):
        time.sleep(0.2)
    if not stopping:
        stop(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    codes = [process.returncode for process in processes]
    failed = [code for code in codes if code != 0]
    if not stopping and not failed:
        return 1  # a process exited on its own: that is a failure even with code 0
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
