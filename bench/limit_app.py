"""The "limit" of the point read: a minimal Quart app over a raw asyncpg pool, no ORM, no validation layer.

``GET /users/{id}`` answers the same JSON as the service's (the same columns, ISO timestamps, 404 for a missing or
soft-deleted user, as a bare problem). It shows how far the ORM path is from the driver on the same framework and
server. The pool is sized from ``DB_POOL_SIZE`` (+ ``DB_MAX_OVERFLOW``), like the service's, and opened in
``before_serving``; asyncpg prepares and caches the statement per connection, as it does for SQLAlchemy.

    hypercorn 'bench.limit_app:create_app()'     (or: python -m bench limit_app --port 8002)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

import asyncpg
from quart import Quart, Response

from service.config import load_settings

_SELECT_USER = (
    "SELECT id, email, name, role, is_active, created_at, updated_at FROM users WHERE id = $1 AND deleted_at IS NULL"
)
_NOT_FOUND = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "user not found"})


def user_json(row: Any) -> str:
    """The service's ``user_out`` shape for one row."""
    return json.dumps(
        {
            "id": row["id"],
            "email": row["email"],
            "name": row["name"],
            "role": row["role"],
            "is_active": row["is_active"],
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
    )


def create_app() -> Quart:
    """The limit app; the database and pool size come from the service's own settings (the environment)."""
    settings = load_settings()
    app = Quart("limit")
    pools: list[asyncpg.Pool] = []

    @app.before_serving
    async def open_pool() -> None:
        # asyncpg takes a plain postgresql:// DSN (SQLAlchemy's "+driver" suffix would not parse).
        dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        size = settings.pool.pool_size + settings.pool.max_overflow
        pools.append(await asyncpg.create_pool(dsn, min_size=1, max_size=size, timeout=settings.connect_timeout))

    @app.after_serving
    async def close_pool() -> None:
        while pools:
            await pools.pop().close()

    @app.get("/health")
    async def health() -> Response:
        return Response('{"status":"ok"}', content_type="application/json")

    @app.get("/users/<int:user_id>")
    async def get_user(user_id: int) -> Response:
        row = await pools[0].fetchrow(_SELECT_USER, user_id)
        if row is None:
            return Response(_NOT_FOUND, status=404, content_type="application/problem+json")
        return Response(user_json(row), content_type="application/json")

    return app


def main(argv: list[str]) -> int:
    """Serve the limit app with Hypercorn on 127.0.0.1 (DATABASE_URL and DB_POOL_SIZE from the environment)."""
    parser = argparse.ArgumentParser(prog="python -m bench limit_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args(argv)
    command = [sys.executable, "-m", "hypercorn", "--bind", f"127.0.0.1:{options.port}"]
    command += ["--workers", str(options.workers), "bench.limit_app:create_app()"]
    return subprocess.call(command, env=os.environ.copy())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
