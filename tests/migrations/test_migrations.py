"""Alembic against a real PostgreSQL: one head, no drift at head, and the name migration's data round trip.

Every test gets an empty database of its own and runs Alembic the way a deployment does: as a subprocess.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.conftest import ROOT

ALEMBIC_TIMEOUT = 120


def alembic(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=ALEMBIC_TIMEOUT,
    )
    if check:
        assert proc.returncode == 0, f"alembic {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def users_columns(url: str) -> set[str]:
    rows = query(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")
    return {name for (name,) in rows}


def app_tables(url: str) -> set[str]:
    rows = query(
        url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name IN ('users', 'notifications', 'products')",
    )
    return {name for (name,) in rows}


def test_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_check_reports_no_drift_at_head(empty_database_url: str) -> None:
    alembic(empty_database_url, "upgrade", "head")
    proc = alembic(empty_database_url, "check", check=False)
    assert proc.returncode == 0, f"models and migrations drifted apart:\n{proc.stdout}\n{proc.stderr}"


def test_name_migration_round_trip(empty_database_url: str) -> None:
    url = empty_database_url
    alembic(url, "upgrade", "0001")
    # Written before 0002: it must get the role default too.
    query(url, "INSERT INTO users (email, first_name, last_name) VALUES ('old@example.com', 'Grace', 'Hopper')")
    alembic(url, "upgrade", "0002")
    legacy = [
        ("ada@example.com", "Ada", "Lovelace"),
        ("cher@example.com", "Cher", ""),  # empty last name: no trailing space
        ("smith@example.com", "", "Smith"),  # empty first name: no leading space
        ("mary@example.com", "Mary Ann", "Evans"),
    ]
    for row in legacy:
        query(url, "INSERT INTO users (email, first_name, last_name) VALUES (%s, %s, %s)", row)

    alembic(url, "upgrade", "head")
    assert "first_name" not in users_columns(url)
    assert "last_name" not in users_columns(url)
    assert dict(query(url, "SELECT email, name FROM users")) == {
        "old@example.com": "Grace Hopper",
        "ada@example.com": "Ada Lovelace",
        "cher@example.com": "Cher",
        "smith@example.com": "Smith",
        "mary@example.com": "Mary Ann Evans",
    }
    assert {role for (role,) in query(url, "SELECT role FROM users")} == {"member"}

    query(url, "INSERT INTO users (email, name) VALUES ('new@example.com', 'Alan Turing')")
    alembic(url, "downgrade", "0003")
    assert {"first_name", "last_name", "name"} <= users_columns(url)
    rows = query(url, "SELECT email, first_name, last_name, name FROM users")
    assert len(rows) == len(legacy) + 2
    for email, first, last, name in rows:
        assert first is not None, email
        assert last is not None, email
        # The split is lossy ("Mary" / "Ann Evans") but joining it back gives the name again.
        assert " ".join(part for part in (first, last) if part) == name, email
    assert query(url, "SELECT first_name, last_name FROM users WHERE email = 'new@example.com'") == [("Alan", "Turing")]

    alembic(url, "downgrade", "base")
    assert app_tables(url) == set()

    alembic(url, "upgrade", "head")
    assert app_tables(url) == {"users", "notifications", "products"}
    alembic(url, "check")


def test_backfill_leaves_names_already_set_alone(empty_database_url: str) -> None:
    url = empty_database_url
    alembic(url, "upgrade", "0003")
    query(
        url,
        "INSERT INTO users (email, first_name, last_name, name) VALUES "
        "('set@example.com', 'Robert', 'Tables', 'Bobby Tables'), "
        "('unset@example.com', 'Edsger', 'Dijkstra', NULL)",
    )
    query(url, "INSERT INTO users (email, name) VALUES ('new@example.com', 'Barbara Liskov')")

    alembic(url, "upgrade", "0004")
    assert dict(query(url, "SELECT email, name FROM users")) == {
        "set@example.com": "Bobby Tables",
        "unset@example.com": "Edsger Dijkstra",
        "new@example.com": "Barbara Liskov",
    }
