"""Databases for the extension's tests: each side (Flask-SQLAlchemy, ours) has a default and an ``"other"`` one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql

from tests.conftest import _admin, _with_database
from tests.quart_sqlalchemy.twins import KINDS, Databases, plain_connection


@pytest.fixture(scope="session")
def twin_databases(server_url: str) -> Iterator[dict[str, Databases]]:
    """Four empty databases for the run: created once (CREATE DATABASE is slow), emptied before each test."""
    names = {kind: (f"qsa_{kind}_{uuid.uuid4().hex[:8]}", f"qsa_{kind}_other_{uuid.uuid4().hex[:8]}") for kind in KINDS}
    for pair in names.values():
        for name in pair:
            _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {
            kind: Databases(_with_database(server_url, default), _with_database(server_url, other))
            for kind, (default, other) in names.items()
        }
    finally:
        for pair in names.values():
            for name in pair:
                _admin(server_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def databases(twin_databases: dict[str, Databases]) -> dict[str, Databases]:
    """The run's four databases, each with an empty ``public`` schema."""
    for pair in twin_databases.values():
        for url in (pair.default, pair.other):
            with plain_connection(url) as conn:
                conn.execute("DROP SCHEMA public CASCADE")
                conn.execute("CREATE SCHEMA public")
    return twin_databases
