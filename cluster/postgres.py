"""A PostgreSQL primary and its streaming standby on loopback ports, from the ``pgserver`` wheel's binaries.

``devdb.py`` lets pgserver manage one server on a Unix socket; a standby needs what pgserver does not offer
(``wal_level``, a replication entry, ``pg_basebackup``), so this module runs the same binaries itself: ``initdb``,
``pg_ctl`` and ``pg_basebackup``, as pgserver's ``pgserver`` system user when the caller is root (PostgreSQL refuses
to run as root), listening on TCP 127.0.0.1 only. Authentication is ``trust``: development only.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from cluster.processes import StartError, free_port, tail
from devdb import is_alive, load_pgserver

SYSTEM_USER = "pgserver"
"""The OS user PostgreSQL runs as when the caller is root (the one pgserver creates and uses)."""
TIMEOUT = 60.0

# Appended to postgresql.conf; later lines win over initdb's, and the standby inherits them with the base backup.
_PRIMARY_SETTINGS = """
# --- cluster/postgres.py ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
wal_keep_size = '256MB'
hot_standby = on
hot_standby_feedback = on
# Every replica's pool and the twin's reach the standby directly (PgBouncer only fronts the primary).
max_connections = 300
# Throwaway data in a temporary directory: durability buys nothing and costs start-up and test time.
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def _bin(name: str) -> str:
    return str(load_pgserver()._commands.POSTGRES_BIN_PATH / name)


def system_user() -> str | None:
    """The OS user to run PostgreSQL as: ``pgserver`` (created if missing) for root, else ``None`` (this user)."""
    if os.geteuid() != 0:
        return None
    utils = load_pgserver().utils
    utils.ensure_user_exists(SYSTEM_USER)
    # As pgserver does before its own initdb: the binaries and libraries readable by that user.
    bin_path = load_pgserver()._commands.POSTGRES_BIN_PATH
    utils.ensure_prefix_permissions(bin_path)
    utils.ensure_folder_permissions(bin_path, 0o055)
    utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    return SYSTEM_USER


def prepare_dir(path: Path, user: str | None) -> None:
    """Create ``path`` for ``user``: owned by it, and every ancestor traversable (o+rx) so it can reach it."""
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        load_pgserver().utils.ensure_prefix_permissions(path)
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(command: list[str], user: str | None, what: str, log: Path | None = None) -> None:
    result = subprocess.run(
        command, user=user, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        extra = f"\n--- {log} ---\n{tail(log)}" if log is not None else ""
        raise StartError(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}{extra}")


@dataclass
class PostgresServer:
    """One PostgreSQL server (primary or standby) whose data lives in ``data_dir``; ``start``/``stop`` are pg_ctl's."""

    name: str
    data_dir: Path
    port: int
    user: str | None
    database: str

    @property
    def log_path(self) -> Path:
        # Beside the data dir, not in it: pg_basebackup copies the primary's data dir, not its log.
        return self.data_dir.with_suffix(".log")

    @property
    def dsn(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/DB``: direct, superuser, trust."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def conninfo(self, database: str | None = None) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database or self.database} connect_timeout=5"

    def start(self) -> None:
        """``pg_ctl start``, waiting until it accepts connections (for a standby: until it is consistent)."""
        try:
            _run(
                [_bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-t", str(int(TIMEOUT)), "-l", str(self.log_path),
                 "-o", f"-p {self.port}", "start"],
                self.user, f"starting {self.name}", self.log_path,
            )  # fmt: skip
        except BaseException:
            self.stop()  # pg_ctl may give up waiting on a postmaster that still comes up
            raise

    def pid(self) -> int | None:
        """The postmaster's process id while its pid file exists."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and is_alive(pid)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` (rolls back open transactions, closes connections); then SIGQUIT, SIGKILL."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(
                [_bin("pg_ctl"), "-D", str(self.data_dir), "-w", "-t", "30", "-m", "fast", "stop"],
                user=self.user, capture_output=True, timeout=40, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        for sig in (None, signal.SIGQUIT, signal.SIGKILL):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not is_alive(pid):
                    return
                time.sleep(0.05)

    def query(self, statement: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """One statement in autocommit; its rows."""
        with psycopg.connect(self.conninfo(database), autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []


def init_primary(data_dir: Path, database: str, user: str | None) -> PostgresServer:
    """initdb a fresh primary in ``data_dir`` (which must not exist), start it and create ``database``."""
    prepare_dir(data_dir.parent, user)
    _run(
        [_bin("initdb"), "-D", str(data_dir), "--auth=trust", "--auth-local=trust", "--encoding=utf8",
         "-U", "postgres", "--no-sync"],
        user, "initdb",
    )  # fmt: skip
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write(_PRIMARY_SETTINGS)
    with (data_dir / "pg_hba.conf").open("a") as hba:
        # initdb's default already trusts replication from loopback; stated here so the standby never depends on it.
        hba.write("\nhost replication all 127.0.0.1/32 trust\n")
    server = PostgresServer("postgres", data_dir, free_port(), user, database)
    server.start()
    try:
        if database != "postgres":
            server.query(f'CREATE DATABASE "{database}"', database="postgres")
    except BaseException:
        server.stop()
        raise
    return server


def init_standby(primary: PostgresServer, data_dir: Path) -> PostgresServer:
    """``pg_basebackup -R -X stream`` of ``primary`` into ``data_dir``, started read-only on a port of its own."""
    _run(
        [_bin("pg_basebackup"), "-D", str(data_dir), "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
         "-R", "-X", "stream", "-c", "fast", "--no-sync"],
        primary.user, "pg_basebackup", primary.log_path,
    )  # fmt: skip
    standby = PostgresServer("postgres-standby", data_dir, free_port(), primary.user, primary.database)
    standby.start()
    try:
        (in_recovery,) = standby.query("SELECT pg_is_in_recovery()")[0]
        if not in_recovery:
            raise StartError(f"the standby is not in recovery:\n{tail(standby.log_path)}")
    except BaseException:
        standby.stop()
        raise
    return standby
