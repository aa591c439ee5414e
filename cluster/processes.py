"""Child processes of the cluster: started on loopback, logged to a file, stopped by their own process id.

Every child runs in a process group of its own: a terminal's Ctrl-C reaches only ``python -m cluster``, which then
stops the parts in order (a replica that got SIGINT together with HAProxy would not drain).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
"""The repository: the apps run from here (``hypercorn.toml``, ``gunicorn.conf.py``, ``alembic.ini``)."""

# Variables of the caller's shell that must not reach a part: each part gets exactly the settings of the topology.
_SCRUBBED_PREFIXES = ("DB_", "DATABASE_", "GUNICORN_", "HYPERCORN_", "PROMETHEUS_MULTIPROC_DIR", "SQLALCHEMY_", "PG")


class StartError(RuntimeError):
    """A part of the cluster did not start; the message ends with the tail of its log."""


def free_port() -> int:
    """A loopback port that was free a moment ago (the part binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment less the service's settings of the caller's shell, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_SCRUBBED_PREFIXES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a log file ('' when it does not exist yet)."""
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Child:
    """One long-running child process with its log; :meth:`restart` runs the same command again."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    user: str | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (again) in the foreground of its own process group; the log is appended to."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.user,
                process_group=0,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def send_signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or ``None`` if it still runs after ``timeout`` seconds."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> int:
        """SIGKILL and reap; the exit code (negative: the signal)."""
        self.send_signal(signal.SIGKILL)
        code = self.wait(10)
        assert code is not None, f"{self.name} survived SIGKILL"
        return code

    def stop(self, timeout: float = 30.0, signals: Sequence[int] = (signal.SIGTERM,)) -> int | None:
        """Send ``signals`` (a short pause between them), wait up to ``timeout``, then SIGKILL; the exit code."""
        if self.process is None:
            return None
        for index, signum in enumerate(signals):
            if index:
                time.sleep(0.2)
            self.send_signal(signum)
        code = self.wait(timeout)
        return self.kill() if code is None else code

    def failure(self, what: str) -> StartError:
        return StartError(f"{self.name}: {what}\n--- {self.log_path} ---\n{tail(self.log_path)}")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, child: Child | None = None) -> None:
    """Poll ``predicate`` until true; :class:`StartError` after ``timeout`` or when ``child`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if child is not None and not child.alive():
            code = child.process.returncode if child.process is not None else None
            raise child.failure(f"exited with {code} while waiting until {what}")
        if predicate():
            return
        if time.monotonic() > deadline:
            if child is not None:
                raise child.failure(f"not {what} after {timeout:.0f} s")
            raise StartError(f"not {what} after {timeout:.0f} s")
        time.sleep(0.05)


def answers(url: str, status: int = 200) -> bool:
    """Whether ``GET url`` answers ``status`` now (any transport error: no)."""
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.HTTPError:
        return False
