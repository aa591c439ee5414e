"""Debian's pgbouncer on a loopback port, configured from ``deploy/pgbouncer/pgbouncer.ini`` and started by
``deploy/pgbouncer/entrypoint.sh``, as the compose file runs it.

Only the addresses change: the listening port, the target (any database name, passed through), the auth file's
place and, when asked, the pool size. PgBouncer refuses to run as root: as root, it runs as ``nobody``.
``tests/reliability/pgbouncer.py`` runs the same code for the PgBouncer tests.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cluster.processes import ROOT, StartError, free_port, tail

DEPLOY_INI = ROOT / "deploy" / "pgbouncer" / "pgbouncer.ini"
ENTRYPOINT = ROOT / "deploy" / "pgbouncer" / "entrypoint.sh"


def pgbouncer_binary() -> str | None:
    """Where pgbouncer is installed (Debian puts it in /usr/sbin, often not on a user's PATH), or ``None``."""
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None)


def deploy_settings() -> configparser.ConfigParser:
    """``deploy/pgbouncer/pgbouncer.ini`` as PgBouncer reads it (``;`` and ``#`` comments, ``key = value``)."""
    parser = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=None, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY_INI)
    return parser


@dataclass
class PgBouncer:
    """A running PgBouncer: its port, process and log."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_pgbouncer(
    target_host: str,
    target_port: int,
    user: str,
    password: str,
    *,
    pool_size: int | None = None,
    work_dir: Path | None = None,
    port: int = 0,
) -> Iterator[PgBouncer]:
    """PgBouncer in front of ``target_host:target_port`` for the block, accepting ``user``/``password``.

    ``pool_size``: server connections per (database, user) with no reserve (``None``: the deploy file's).
    ``work_dir``: where its ini, auth file and log go (default: a temporary directory, removed afterwards).
    ``port``: 0 for a free one. Raises :class:`StartError` when pgbouncer is missing or does not start.
    """
    binary = pgbouncer_binary()
    if binary is None:
        raise StartError("pgbouncer is not installed (make system-deps installs it)")
    run_as = "nobody" if os.geteuid() == 0 else None
    own_dir = work_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-")) if work_dir is None else work_dir
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    settings = deploy_settings()
    settings.remove_section("databases")
    settings.add_section("databases")
    settings.set("databases", "*", f"host={target_host} port={target_port}")
    bouncer = settings["pgbouncer"]
    bouncer.update(listen_addr="127.0.0.1", listen_port=str(port), auth_file=str(workdir / "userlist.txt"))
    if pool_size is not None:
        bouncer.update(default_pool_size=str(pool_size), reserve_pool_size="0")
    ini = workdir / "pgbouncer.ini"
    with ini.open("w") as out:
        settings.write(out)
    log_path = workdir / "pgbouncer.log"
    # A copy of the entrypoint: `nobody` may not be able to read the repository (a clone under /root).
    entrypoint = workdir / "entrypoint.sh"
    shutil.copy(ENTRYPOINT, entrypoint)
    if run_as is not None:
        workdir.chmod(0o755)  # mkdtemp's 0700 would keep `nobody` out of its own directory's parent chain
        for path in (workdir, ini, entrypoint):
            shutil.chown(path, user=run_as)
    env = {
        "PATH": f"{Path(binary).parent}:{os.environ.get('PATH', '')}",
        "APP_DB_USER": user,
        "APP_DB_PASSWORD": password,
        "PGBOUNCER_INI": str(ini),
        "PGBOUNCER_AUTH_FILE": str(workdir / "userlist.txt"),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["sh", str(entrypoint)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=run_as,
            process_group=0,  # a terminal's Ctrl-C is for the caller, which stops this in its turn
        )
    bouncer_process = PgBouncer(port, process, log_path)
    try:
        _wait_accepting(bouncer_process, user, password)
        yield bouncer_process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)


def _wait_accepting(bouncer: PgBouncer, user: str, password: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            raise StartError(f"pgbouncer exited with {bouncer.process.returncode}:\n{tail(bouncer.log_path)}")
        try:
            with psycopg.connect(
                host="127.0.0.1", port=bouncer.port, user=user, password=password, dbname="postgres", connect_timeout=2
            ) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise StartError(f"pgbouncer did not accept connections:\n{tail(bouncer.log_path)}")
