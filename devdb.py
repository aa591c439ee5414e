"""Embedded PostgreSQL for ``make run`` and the tests: a real server from the ``pgserver`` wheel, no install needed.

Library use::

    with start_embedded(Path(".data/pg")) as pg:
        engine = create_async_engine(pg.url.replace("postgresql://", "postgresql+asyncpg://", 1))

Command line (``DATABASE_URL`` already set: the command simply runs with it; otherwise an embedded server is
started in ``--data-dir``, exported as ``DATABASE_URL`` to the command, and stopped when the command ends)::

    python -m devdb run [--data-dir .data/pg] -- COMMAND [ARG...]

pgserver listens on a Unix socket only, so :attr:`EmbeddedPostgres.url` has the form
``postgresql://postgres@/postgres?host=/socket/dir&port=5432``, which libpq/psycopg, asyncpg and SQLAlchemy
(``postgresql+psycopg`` / ``postgresql+asyncpg``) all accept.  ``start_embedded(..., tcp=True)`` also listens on a
free loopback port (:attr:`EmbeddedPostgres.tcp_url`), for what only speaks TCP: PgBouncer, a TCP proxy, a client
on another machine's loopback-forwarded port.  Authentication is ``trust``: for development only.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import quote

DEFAULT_DATA_DIR = Path(".data/pg")
STOP_TIMEOUT = 30.0
"""Seconds for a fast shutdown before the postmaster is killed."""

_FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Handles held by this process per data dir: pgserver hands out one shared server object per process.
_open_handles: dict[Path, int] = {}


def load_pgserver() -> Any:
    """The ``pgserver`` module, imported on first use (also by ``cluster.postgres``)."""
    # Imported lazily: importing pgserver creates its runtime dir, and platformdirs warns when XDG_RUNTIME_DIR
    # is unset (containers, CI) although the /tmp fallback works fine.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver

    return pgserver


class EmbeddedPostgres:
    """A running pgserver PostgreSQL; create it with :func:`start_embedded`, end it with :meth:`stop`."""

    def __init__(
        self, data_dir: Path, socket_dir: Path, port: int, pid: int, system_user: str | None, host: str | None
    ) -> None:
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.port = port
        self.pid = pid
        """The postmaster's process id."""
        self.host = host
        """The TCP address it listens on as well as its socket (``None``: the socket only)."""
        self._system_user = system_user
        self._stopped = False

    @property
    def url(self) -> str:
        """Plain ``postgresql://`` URL; swap the scheme for ``postgresql+asyncpg``/``postgresql+psycopg``."""
        # The port is explicit so a PGPORT in the client's environment cannot point it at another socket name.
        return f"postgresql://postgres@/postgres?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"

    @property
    def tcp_url(self) -> str:
        """The same server over TCP; only for a server started with ``tcp=True``."""
        if self.host is None:
            raise RuntimeError(f"the server of {self.data_dir} listens on its unix socket only")
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def log_path(self) -> Path:
        """The server's log (pgserver starts it with ``pg_ctl -l``), readable by the user who started it."""
        return self.data_dir / "log"

    def stop(self) -> None:
        """Stop the server and wait until the postmaster has exited; idempotent.

        The server is left running only while another live process still holds a handle on the same data dir
        (e.g. tests reusing the server of a ``make run``); the last holder stops it.
        """
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _open_handles[self.data_dir] -= 1
        if _open_handles[self.data_dir] > 0:
            return
        del _open_handles[self.data_dir]
        server_cls = load_pgserver().PostgresServer
        # pgserver's own lock: a concurrent get_server() must not adopt the server while it is being stopped.
        with server_cls._lock:
            server_cls._instances.pop(self.data_dir, None)
            others = [pid for pid in _read_handles(self.data_dir) if pid != os.getpid() and is_alive(pid)]
            _write_handles(self.data_dir, others)
            if not others:
                self._shutdown()

    def _shutdown(self) -> None:
        pg_ctl = load_pgserver().pg_ctl
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            # Fails harmlessly when the server is already down; the wait below is what we rely on.
            pg_ctl(
                ["-w", "-t", str(int(STOP_TIMEOUT)), "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self._system_user,
                timeout=STOP_TIMEOUT + 5,
            )
        # SIGQUIT is postgres' immediate shutdown (it takes its backends down too); SIGKILL is the last resort.
        for sig, grace in ((None, 5.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)
            if _wait_gone(self.pid, grace):
                return
        raise RuntimeError(f"postmaster {self.pid} for {self.data_dir} did not exit")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_embedded(data_dir: Path, *, tcp: bool = False) -> EmbeddedPostgres:
    """Start (initdb on first use) a PostgreSQL server whose data lives in ``data_dir``; return once it accepts
    connections (about a second).  A server left running there by a killed process is adopted.

    With ``tcp``, the server also listens on 127.0.0.1 at a free port (:attr:`EmbeddedPostgres.tcp_url`).

    As root, pgserver runs postgres as a ``pgserver`` system user (created with ``useradd`` if missing), chowns
    ``data_dir`` to it and adds o+rx to every ancestor directory so that user can reach it.
    """
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    pgserver = load_pgserver()
    if data_dir.exists():
        with pgserver.PostgresServer._lock:
            # Handles of processes that died without stopping would otherwise keep the server alive forever.
            _prune_dead_handles(data_dir)
    server = pgserver.get_server(data_dir, cleanup_mode=None)  # None: we stop it ourselves, see stop()
    info = server.get_postmaster_info()
    if tcp and not info.hostname:
        info = _restart_on_loopback(data_dir, Path(info.socket_dir), server.system_user)
    _open_handles[data_dir] = _open_handles.get(data_dir, 0) + 1
    pg = EmbeddedPostgres(
        data_dir, Path(info.socket_dir), int(info.port), int(info.pid), server.system_user, info.hostname or None
    )
    # Safety net for a forgotten stop(); registered after pgserver's own exit hook, so it runs first.
    atexit.register(pg.stop)
    return pg


def _restart_on_loopback(data_dir: Path, socket_dir: Path, system_user: str | None) -> Any:
    """Restart the server so that it listens on 127.0.0.1 as well as on its socket; its new postmaster info.

    pgserver starts postgres with ``-h ""`` on the command line, which no setting can override, so the only way to
    add a TCP listener is a restart with our own options.  Refused while another process holds the server.
    """
    pgserver = load_pgserver()
    with pgserver.PostgresServer._lock:
        others = [pid for pid in _read_handles(data_dir) if pid != os.getpid() and is_alive(pid)]
        if others:
            raise RuntimeError(f"the server of {data_dir} is in use by {others} and listens on its socket only")
        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=system_user, timeout=STOP_TIMEOUT)
        for attempt in range(3):  # a free port can be taken by someone else before postgres binds it
            options = f"-h 127.0.0.1 -p {_free_loopback_port()} -k {socket_dir}"
            try:
                pgserver.pg_ctl(
                    ["-w", "-o", options, "-l", str(data_dir / "log"), "start"],
                    pgdata=data_dir,
                    user=system_user,
                    timeout=STOP_TIMEOUT,
                )
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
        info = pgserver.utils.PostmasterInfo.read_from_pgdata(data_dir)
        if info is None or info.status != "ready":
            raise RuntimeError(f"the server of {data_dir} did not come back on a loopback port")
        return info


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _handles_file(data_dir: Path) -> Path:
    return data_dir / ".handle_pids.json"


def _read_handles(data_dir: Path) -> list[int]:
    path = _handles_file(data_dir)
    return [int(pid) for pid in json.loads(path.read_text())] if path.exists() else []


def _write_handles(data_dir: Path, pids: list[int]) -> None:
    _handles_file(data_dir).write_text(json.dumps(pids))


def _prune_dead_handles(data_dir: Path) -> None:
    pids = _read_handles(data_dir)
    alive = [pid for pid in pids if is_alive(pid)]
    if alive != pids:
        _write_handles(data_dir, alive)


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie counts as gone; also used by ``cluster.postgres``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # The postmaster is daemonised, so a stopped one stays a zombie until its adoptive parent (PID 1, which in
    # some containers reaps lazily) collects it: that counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we have
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def run(command: list[str], data_dir: Path = DEFAULT_DATA_DIR) -> int:
    """Run ``command`` with ``DATABASE_URL`` set, starting and always stopping an embedded server if it is unset.

    SIGINT/SIGTERM/SIGHUP are forwarded to the command's process group (a second signal kills it); returns the
    command's exit code, ``128 + signal`` if a signal ended it, 127 if it cannot be started.
    """
    if os.environ.get("DATABASE_URL"):
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"devdb: cannot run {command[0]!r}: {exc}", file=sys.stderr)
            return 127

    received: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if child is not None:
            _signal_group(child.pid, signal.SIGKILL if len(received) > 1 else signum)

    # Installed before the server starts so that no signal can end this process with the server left running.
    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED_SIGNALS}
    try:
        with start_embedded(data_dir) as pg:
            print(f"devdb: embedded PostgreSQL ready at {pg.url}", file=sys.stderr, flush=True)
            if received:
                return 128 + received[0]
            try:
                # Own process group: a terminal's Ctrl-C reaches only us, and we forward exactly one signal to
                # the whole group, so `sh -c 'a && b'` cannot die and leave `b` running against a stopped server.
                child = subprocess.Popen(command, env={**os.environ, "DATABASE_URL": pg.url}, process_group=0)
            except OSError as exc:
                print(f"devdb: cannot run {command[0]!r}: {exc}", file=sys.stderr)
                return 127
            if received:  # arrived between Popen and the assignment
                _signal_group(child.pid, received[-1])
            returncode = child.wait()
            return 128 - returncode if returncode < 0 else returncode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m devdb``."""
    parser = argparse.ArgumentParser(prog="python -m devdb", description="Embedded PostgreSQL for development.")
    commands = parser.add_subparsers(dest="action", required=True)
    run_parser = commands.add_parser("run", help="run a command against DATABASE_URL or an embedded server")
    run_parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="default: %(default)s")
    run_parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    args = parser.parse_args(argv)
    command: list[str] = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        run_parser.error("missing command after --")
    return run(command, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
