"""The server configurations under test, started as real processes on a free loopback port.

Each configuration is a deployed command line — Gunicorn with sync or gthread workers serving the Flask twin,
Hypercorn with asyncio or uvloop workers serving the async service, or Hypercorn serving the raw-asyncpg "limit"
app — with the worker count and the pool settings given here, and access logs off on both sides (formatting a line
per request is not what is being compared). Several Hypercorn workers run as one process each on its own
``SO_REUSEPORT`` socket (:mod:`bench.reuseport`) rather than under Hypercorn's ``--workers``. A started
server is measured by :class:`CpuMeter` over its whole process tree (master and workers) and stopped with SIGTERM,
then SIGKILL of its process group after a bounded wait.

``python -m bench servers CONFIG --workers 2`` starts one configuration by hand until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from cluster.processes import free_port

ROOT = Path(__file__).resolve().parents[1]

DEFAULT_WORKER = "hypercorn.toml"

# name -> (server, what it serves, worker class). "async" configurations are the ones compared against "sync" ones.
KINDS: dict[str, tuple[str, str, str]] = {
    "gunicorn-sync": ("gunicorn", "service.flask_app:create_app()", "sync"),
    "gunicorn-gthread": ("gunicorn", "service.flask_app:create_app()", "gthread"),
    "hypercorn-asyncio": ("hypercorn", "service.quart_app:create_app()", "asyncio"),
    "hypercorn-uvloop": ("hypercorn", "service.quart_app:create_app()", "uvloop"),
    # The checkout's own default configuration, as `make run` serves it: its hypercorn.toml (event loop, access log
    # on stdout, one process) through its serving entry point. The figure the efficiency goals are stated for.
    "hypercorn-default": ("hypercorn", "service.quart_app:create_app()", DEFAULT_WORKER),
    "limit": ("hypercorn", "bench.limit_app:create_app()", "asyncio"),
}
# The async service's pool queue without its bound: every request waits its turn for a connection, none gets a 503.
UNBOUNDED_QUEUE = {"DB_POOL_MAX_WAITERS": "0"}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0

# Gunicorn reads the project's gunicorn.conf.py (timeouts, the multiprocess-metrics hook) with access logs off:
# the CLI cannot set ``accesslog`` back to None, and "/dev/null" would still format every line.
_GUNICORN_CONF = """\
import runpy
globals().update({{k: v for k, v in runpy.run_path({conf!r}).items() if not k.startswith("__")}})
accesslog = {accesslog!r}
"""


class ServerError(RuntimeError):
    """A server did not start, did not answer /health in time, or died."""


@dataclass(frozen=True)
class Pool:
    """The SQLAlchemy pool settings given to every process of a server (``DB_POOL_SIZE``/``DB_MAX_OVERFLOW``)."""

    size: int
    overflow: int = 0

    @property
    def label(self) -> str:
        return f"pool {self.size}+{self.overflow}"


@dataclass(frozen=True)
class ServerConfig:
    """One server configuration: a kind of :data:`KINDS`, its worker count and gthread's threads per worker."""

    kind: str
    workers: int
    threads: int = 16
    keep_alive: int = 5  # seconds an idle keep-alive connection is kept (Gunicorn's default; hypercorn.toml: 65)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown server kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.workers < 1 or self.threads < 1:
            raise ValueError("workers and threads must be at least 1")
        if self.kind == "hypercorn-default" and self.workers != 1:
            raise ValueError("hypercorn-default serves one process, as hypercorn.toml says")

    @property
    def name(self) -> str:
        threads = f"{self.threads}" if self.kind == "gunicorn-gthread" else ""
        return f"{self.kind}{threads}-w{self.workers}"

    @property
    def is_async(self) -> bool:
        return KINDS[self.kind][0] == "hypercorn"

    @property
    def concurrency_per_worker(self) -> int | None:
        """How many requests one worker serves at once; ``None`` when only the connection count bounds it."""
        if self.kind == "gunicorn-sync":
            return 1
        if self.kind == "gunicorn-gthread":
            return self.threads
        return None

    def command(self, port: int, workdir: Path, access_log: bool = False, root: Path = ROOT) -> list[str]:
        """The command line serving this configuration on ``127.0.0.1:port`` (``root``: the checkout served)."""
        server, app, worker_class = KINDS[self.kind]
        bind = f"127.0.0.1:{port}"
        if server == "gunicorn":
            conf = workdir / "gunicorn_bench.conf.py"
            conf.write_text(
                _GUNICORN_CONF.format(conf=str(root / "gunicorn.conf.py"), accesslog="-" if access_log else None)
            )
            return [sys.executable, "-m", "gunicorn", "-c", str(conf), app]
        if worker_class == DEFAULT_WORKER:
            return default_command(root, bind, app)
        # The settings of hypercorn.toml, as flags (so the access log can stay off), served by the service's own
        # entry point (its loop and access logger); the backlog is hypercorn.toml's, as deep as Gunicorn's (2048)
        # so neither side refuses connections the other would queue.
        options = ["--worker-class", worker_class, "--keep-alive", str(self.keep_alive), "--graceful-timeout", "5"]
        options += ["--backlog", "2048"]
        if access_log:
            options += ["--access-logfile", "-"]
        if self.workers == 1:
            return [sys.executable, "-m", serving_module(root), "--bind", bind, "--workers", "0", *options, app]
        # Several workers: one SO_REUSEPORT socket per process (see bench.reuseport for why). The launcher is this
        # checkout's (a script of the standard library only), whatever checkout it serves.
        launcher = [sys.executable, str(Path(__file__).with_name("reuseport.py")), "--workers", str(self.workers)]
        launcher += ["--bind", bind, "--module", serving_module(root)]
        return [*launcher, "--", *options, app]

    def environment(
        self, port: int, database_url: str, pool: Pool, *, metrics: bool, workdir: Path, extra: Mapping[str, str]
    ) -> dict[str, str]:
        """The server's environment: the service's settings, benchmark mode on, Gunicorn's knobs."""
        _, _, worker_class = KINDS[self.kind]
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DB_POOL_SIZE": str(pool.size),
            "DB_MAX_OVERFLOW": str(pool.overflow),
            "DB_APPLICATION_NAME": f"bench-{self.name}",
            "BENCH_ENDPOINTS": "1",
            "METRICS_ENABLED": "true" if metrics else "false",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(self.workers),
            # Gunicorn silently turns "sync" with threads > 1 into gthread: sync must say 1 thread.
            "GUNICORN_THREADS": str(self.threads if worker_class == "gthread" else 1),
            "GUNICORN_WORKER_CLASS": worker_class,
            "GUNICORN_KEEPALIVE": str(self.keep_alive),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if self.workers > 1 and metrics:
            # Several processes need the multiprocess mode for /metrics to be right, as in a deployment.
            metrics_dir = workdir / "prometheus"
            metrics_dir.mkdir(exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return env


def default_command(root: Path, bind: str, app: str) -> list[str]:
    """``make run``'s command for the checkout at ``root``: its entry point (Hypercorn's own CLI in checkouts from
    before ``service.quart_app.serve``) with its ``hypercorn.toml``; only the address differs."""
    return [sys.executable, "-m", serving_module(root), "--config", str(root / "hypercorn.toml"), "--bind", bind, app]


def serving_module(root: Path) -> str:
    """The module that serves the async service in the checkout at ``root``: its own entry point, or Hypercorn's
    CLI in checkouts from before ``service.quart_app.serve``."""
    return "service.quart_app.serve" if (root / "service" / "quart_app" / "serve.py").exists() else "hypercorn"


def parse_config(text: str, workers: int, threads: int = 16) -> ServerConfig:
    """``gunicorn-gthread`` (or ``gunicorn-gthread16``, the threads in the name) with ``workers``."""
    for kind in KINDS:
        if text == kind:
            return ServerConfig(kind, workers, threads)
        if kind == "gunicorn-gthread" and text.startswith(kind) and text[len(kind) :].isdigit():
            return ServerConfig(kind, workers, int(text[len(kind) :]))
    raise ValueError(f"unknown server configuration {text!r}; expected one of {', '.join(KINDS)}")


class CpuMeter:
    """User+system CPU seconds used by a set of processes between :meth:`start` and :meth:`stop`.

    Processes are identified by (pid, create time) so a reused pid is not mistaken for an old one; one that
    appears during the interval counts from zero. One that exits during it loses its last slice (psutil cannot
    read a reaped process): the intervals here are short and the measured processes long-lived.
    """

    def __init__(self, find: Iterable[psutil.Process] | None = None) -> None:
        self._find = find
        self._before: dict[tuple[int, float], float] = {}

    def processes(self) -> list[psutil.Process]:
        return list(self._find or [])

    def _snapshot(self) -> dict[tuple[int, float], float]:
        snapshot = {}
        for process in self.processes():
            try:
                times = process.cpu_times()
                snapshot[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:
                continue
        return snapshot

    def start(self) -> None:
        self._before = self._snapshot()

    def stop(self) -> float:
        after = self._snapshot()
        return sum(max(0.0, used - self._before.get(key, 0.0)) for key, used in after.items())


class TreeCpuMeter(CpuMeter):
    """The CPU of a process and all its descendants (a server master and its workers)."""

    def __init__(self, pid: int) -> None:
        super().__init__()
        self._pid = pid

    def processes(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self._pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []


class PostgresCpuMeter(CpuMeter):
    """The CPU of every ``postgres`` process on the machine: backends and background workers alike.

    On a shared machine this includes other clients' work; the harness runs nothing else against PostgreSQL
    while it measures, so it is the benchmark's cost plus background noise.
    """

    def processes(self) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter(["name"]):
            if process.info["name"] in {"postgres", "postmaster"}:
                found.append(process)
        return found


class RunningServer:
    """A started server: its base URL, process, log and CPU meter; :meth:`stop` ends it."""

    def __init__(self, config: ServerConfig, process: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
        self.config = config
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.cpu = TreeCpuMeter(process.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Poll ``/health`` until it answers 200; :class:`ServerError` with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.config.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.config.name} did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM (graceful shutdown), then SIGKILL of the server's own process group; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        # Workers a dying master left behind are in its process group (it was started in a session of its own).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)
        return self.process.returncode

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def start(
    config: ServerConfig,
    database_url: str,
    pool: Pool,
    *,
    metrics: bool = True,
    access_log: bool = False,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = START_TIMEOUT,
    root: Path = ROOT,
) -> RunningServer:
    """Start ``config`` on a free loopback port and wait until it answers ``/health``.

    ``root`` is the checkout whose code is served (another commit's ``git worktree``, say). The venv's editable
    install maps ``service`` to this checkout, so another root goes first on ``PYTHONPATH`` as well as being the
    working directory: :func:`imported_from` tells which ``service`` package such a process really imports.
    """
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{config.name}-"))
    command = config.command(port, workdir, access_log, root)
    env = config.environment(port, database_url, pool, metrics=metrics, workdir=workdir, extra=extra_env or {})
    if root != ROOT:
        env = served_from(root, env)
    with (workdir / "server.log").open("wb") as log:
        # A session of its own: Ctrl-C in the harness's terminal reaches the harness, which stops servers in order.
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = RunningServer(config, process, port, workdir)
    try:
        server.wait_healthy(timeout)
    except BaseException:
        server.stop()
        raise
    return server


def served_from(root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with ``root`` first on ``PYTHONPATH``, so a process started in ``root`` imports its ``service``."""
    path = [str(root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def imported_from(root: Path) -> Path:
    """The directory of the ``service`` package that the venv's python imports when :func:`start` serves ``root``."""
    probe = "import service, pathlib; print(pathlib.Path(service.__file__).resolve().parent)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=root,
        env=served_from(root, os.environ) if root != ROOT else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(done.stdout.strip())


def main(argv: list[str]) -> int:
    """Serve one configuration until Ctrl-C (to poke at it by hand, or to point locust at it)."""
    parser = argparse.ArgumentParser(prog="python -m bench servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help=f"one of {', '.join(KINDS)}")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=16, help="threads per gthread worker")
    parser.add_argument("--pool-size", type=int, default=16)
    parser.add_argument("--max-overflow", type=int, default=0)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--no-metrics", action="store_true")
    options = parser.parse_args(argv)
    if not options.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    config = parse_config(options.config, options.workers, options.threads)
    server = start(config, options.database_url, Pool(options.pool_size, options.max_overflow), access_log=True)
    print(f"{config.name} serving at {server.base_url} (log: {server.log_path}); Ctrl-C stops it", flush=True)
    try:
        while server.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(server.log_tail(), file=sys.stderr)
        server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
