"""The benchmark's scratch database: created, migrated and seeded once per run, reset between servers, dropped.

Seeding goes through the bulk path: ``python -m service.seed`` (COPY) when the project has it, else ``POST
/users/bulk`` against a short-lived Hypercorn server (the same bulk use case, over HTTP). The hot products of the
contended-write scenario get a stock no run can exhaust, so a reserve cell measures contention, never "sold out".
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.servers import ROOT, Pool, ServerConfig, start

HOT_STOCK = 10**15
BULK_CHUNK = 5000


@dataclass(frozen=True)
class Dataset:
    """What the scenarios may address: the seeded users' id range, list pages, hot product ids."""

    first_user_id: int
    last_user_id: int
    active_users: int
    products: tuple[int, ...]
    seeded_with: str

    @property
    def pages(self) -> int:
        return max(1, min(50, self.active_users // 20))


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (password kept)."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def admin(url: str, statement: sql.Composable | str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE, VACUUM)."""
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def server_version(url: str) -> str:
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]) if row else "unknown"


@contextmanager
def scratch_database(server_url: str, *, keep: bool = False) -> Iterator[str]:
    """A new database ``bench_<time>_<pid>`` migrated to head with the real ``alembic upgrade head``."""
    name = f"bench_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
            cwd=ROOT,
            check=True,
            timeout=180,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        yield url
    finally:
        if keep:
            print(f"kept the scratch database {name}", file=sys.stderr)
        else:
            admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed(url: str, *, users: int, products: int = 4) -> Dataset:
    """Seed ``users`` users (bulk path) and ``products`` hot products; describe what the scenarios can use."""
    if importlib.util.find_spec("service.seed") is not None:
        done = subprocess.run(
            [sys.executable, "-m", "service.seed", "--users", str(users), "--notifications", "0", "--products", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            timeout=600,
            capture_output=True,  # its progress bar would interleave with the harness's own
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"python -m service.seed failed ({done.returncode}): {done.stderr[-2000:]}")
        how = "python -m service.seed (COPY)"
    else:
        _seed_over_http(url, users)
        how = "POST /users/bulk"
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        ids = conn.execute(
            "INSERT INTO products (name, stock, version_id, created_at, updated_at) "
            "SELECT 'hot ' || n, %s, 1, now(), now() FROM generate_series(1, %s) AS n RETURNING id",
            (HOT_STOCK, products),
        ).fetchall()
        first, last, active = conn.execute(
            "SELECT min(id), max(id), count(*) FILTER (WHERE is_active) FROM users WHERE deleted_at IS NULL"
        ).fetchone() or (None, None, 0)
        conn.execute("VACUUM ANALYZE")
    if first is None or last is None:
        raise RuntimeError("seeding left no users")
    return Dataset(int(first), int(last), int(active), tuple(int(row[0]) for row in ids), how)


def _seed_over_http(url: str, users: int) -> None:
    server = start(ServerConfig("hypercorn-asyncio", 1), url, Pool(2), metrics=False)
    try:
        for offset in range(0, users, BULK_CHUNK):
            rows = [
                {"email": f"seed-{n}@bench.example.com", "name": f"Seed {n}"}
                for n in range(offset, min(users, offset + BULK_CHUNK))
            ]
            request = urllib.request.Request(
                f"{server.base_url}/users/bulk",
                data=json.dumps(rows).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=120) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST /users/bulk answered {response.status}")
    finally:
        server.stop()
        server.cleanup()


def reset(url: str, dataset: Dataset) -> None:
    """Remove what a server's write cells added and vacuum, so every server starts from the same data."""
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id > %s", (dataset.last_user_id,))
        conn.execute("UPDATE products SET stock = %s WHERE id = ANY(%s)", (HOT_STOCK, list(dataset.products)))
        conn.execute("VACUUM ANALYZE users")
        conn.execute("VACUUM ANALYZE products")


def vacuum(url: str, table: str) -> None:
    """``VACUUM ANALYZE table`` (the name is quoted as an identifier)."""
    admin(url, sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


def free_connections(url: str) -> int:
    """How many more clients PostgreSQL accepts now (``max_connections`` less reserved and used ones)."""
    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).fetchone()
    return int(row[0]) if row else 0
