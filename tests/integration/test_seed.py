"""``python -m service.seed`` on a fresh database: the counts asked for, the ORM's defaults, re-runs safe."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from service.db.engine import sync_url
from service.db.models import EmailNotification, Notification, Product, SMSNotification, User
from tests.conftest import clone_database, drop_database

ROOT = Path(__file__).resolve().parents[2]


def _seed(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "service.seed", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def _counts(database_url: str) -> dict[str, int]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("users", "notifications", "products")
            }
    finally:
        engine.dispose()


def _names(database_url: str) -> list[str]:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as session:
            return list(session.execute(select(User.name).order_by(User.email)).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def second_database(server_url: str, template_url: str) -> Iterator[str]:
    url = clone_database(server_url, template_url)
    yield url
    drop_database(server_url, url)


def test_seed_fills_a_fresh_database_and_reruns_safely(database_url: str, second_database: str) -> None:
    # Batches of 128: several transactions per table, and a partial last one.
    args = ("--users", "300", "--notifications", "500", "--products", "50", "--batch", "128")
    first = _seed(database_url, *args)
    assert _counts(database_url) == {"users": 300, "notifications": 500, "products": 50}
    assert "users: 300 inserted, 0 already present" in first.stdout
    assert "100%" in first.stderr  # the progress bar

    again = _seed(database_url, *args)
    assert _counts(database_url) == {"users": 300, "notifications": 500, "products": 50}
    assert "users: 0 inserted, 300 already present" in again.stdout

    # More of everything: only the difference is added; a batch half present takes the skip fallback.
    more = _seed(database_url, "--users", "400", "--notifications", "600", "--products", "60", "--batch", "128")
    assert _counts(database_url) == {"users": 400, "notifications": 600, "products": 60}
    assert "users: 100 inserted, 300 already present" in more.stdout

    # Deterministic: the same arguments on another database give the same users.
    _seed(second_database, "--users", "400", "--batch", "128")
    assert _names(second_database) == _names(database_url)


def test_seeded_rows_look_like_the_orm_wrote_them(database_url: str) -> None:
    _seed(database_url, "--users", "50", "--notifications", "80", "--products", "10")
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as session:
            users = session.execute(select(User)).scalars().all()
            assert len(users) == 50  # the all() checks below hold for an empty list too
            assert all(u.role == "member" and u.is_active and u.deleted_at is None for u in users)
            assert all(u.created_at == u.updated_at and u.created_at.utcoffset() is not None for u in users)
            notifications = session.execute(select(Notification)).scalars().all()
            assert len(notifications) == 80
            kinds = {type(n) for n in notifications}
            assert kinds == {EmailNotification, SMSNotification}  # STI: both subclasses come back
            assert all(n.email_address for n in notifications if isinstance(n, EmailNotification))
            assert all(n.phone_number for n in notifications if isinstance(n, SMSNotification))
            user_ids = {u.id for u in users}
            owners = {n.user_id for n in notifications} - {None}
            assert owners, "no notification has a user"  # the subset check below holds for an empty set too
            assert owners <= user_ids
            products = session.execute(select(Product)).scalars().all()
            assert len(products) == 10
            assert {p.version_id for p in products} == {1}
            assert all(p.stock >= 0 for p in products)
            assert session.execute(select(func.count()).select_from(Product)).scalar_one() == 10
    finally:
        engine.dispose()
