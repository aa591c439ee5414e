"""The bulk path of users (``UserRepository.add_many`` → ``COPY``) on real PostgreSQL, async and sync, and through
both apps: defaults as the ORM writes them, all or nothing, the COPY path really taken, the pool still usable after
a failed COPY."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from service.config import PoolSettings, Settings
from service.db.engine import sync_url
from service.db.models import User
from service.errors import Conflict, ServiceUnavailable
from service.repositories._async.users import UserRepository
from service.repositories._sync.users import UserRepository as SyncUserRepository
from service.schemas import UserCreate
from service.usecases._async.users import register_users
from service.usecases._sync.users import register_users as register_users_sync
from tests.conftest import make_settings


def _rows(n: int, prefix: str = "u") -> list[dict[str, Any]]:
    return [{"email": f"{prefix}{i}@example.com", "name": f"User {i}"} for i in range(n)]


def _models(n: int, prefix: str = "u") -> list[UserCreate]:
    return [UserCreate(**row) for row in _rows(n, prefix)]


class Statements:
    """Every statement SQLAlchemy sends on an engine (``before_cursor_execute``); a raw-driver COPY sends none."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seen.append(statement)

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[Statements]:
    recorder = Statements(engine.sync_engine)
    yield recorder
    recorder.close()


@pytest.fixture
def sync_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sync_url(database_url), pool_size=2)
    yield engine
    engine.dispose()


async def _users(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text("SELECT id, email, name, role, is_active, created_at, updated_at, deleted_at FROM users ORDER BY id")
        )
        return list(result)


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM users"))).scalar_one())


# -- async: repository and use case ---------------------------------------------------------------------------


async def test_bulk_rows_get_the_orm_defaults_and_one_timestamp(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        session.add(User(email="orm@example.com", name="By the ORM"))
        await session.commit()
    before = datetime.now(UTC)
    async with AsyncSession(engine) as session:
        assert await register_users(session, _models(3)) == 3
    after = datetime.now(UTC)

    orm, *bulk = await _users(engine)
    assert [row.id for row in bulk] == [2, 3, 4]  # from the identity column, after the ORM's row
    assert [row.email for row in bulk] == ["u0@example.com", "u1@example.com", "u2@example.com"]
    for row in bulk:
        # Exactly the columns the ORM path fills, with the same values.
        assert (row.role, row.is_active, row.deleted_at) == (orm.role, orm.is_active, orm.deleted_at)
        assert row.role == "member"
        assert row.is_active is True
        assert row.deleted_at is None
        assert row.created_at == row.updated_at
        assert row.created_at.utcoffset() == timedelta(0)
        assert before <= row.created_at <= after
    assert len({row.created_at for row in bulk}) == 1  # one timestamp for the batch


async def test_the_copy_path_sends_no_statement_through_sqlalchemy(engine: AsyncEngine, statements: Statements) -> None:
    async with AsyncSession(engine) as session:
        await session.execute(text("SELECT 1"))  # the transaction is open: nothing else is needed before COPY
        statements.seen.clear()
        assert await UserRepository(session).add_many(_rows(500)) == 500
        assert statements.seen == []  # no INSERT: the rows went through the raw asyncpg connection's COPY
        await session.commit()
    assert await _count(engine) == 500


async def test_copy_as_first_statement_opens_the_transaction_so_rollback_undoes_it(
    engine: AsyncEngine, statements: Statements
) -> None:
    async with AsyncSession(engine) as session:
        assert await UserRepository(session).add_many(_rows(10)) == 10
        # One trivial statement opened the transaction SQLAlchemy's adapter will end; no INSERT was sent.
        assert statements.seen == ["SELECT 1"]
        await session.rollback()
    assert await _count(engine) == 0


async def test_a_duplicate_inside_the_batch_writes_nothing(engine: AsyncEngine) -> None:
    rows = [*_rows(3), {"email": "u1@example.com", "name": "again"}]
    async with AsyncSession(engine) as session:
        # The repository alone: the unique index, not the use case's pre-check, refuses the batch.
        with pytest.raises(Conflict, match="already exists"):
            await UserRepository(session).add_many(rows)
    async with AsyncSession(engine) as session:
        with pytest.raises(Conflict, match=r"rows 1 and 3 repeat the same email"):
            await register_users(session, [UserCreate(**row) for row in rows])
    assert await _count(engine) == 0


async def test_a_batch_meeting_a_live_user_writes_nothing(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        await register_users(session, _models(1, "taken"))
    async with AsyncSession(engine) as session:
        with pytest.raises(Conflict, match="already exists"):
            await register_users(session, [*_models(50, "new"), *_models(1, "taken")])
        await session.rollback()  # the aborted transaction ends; the session is usable again
        assert (await session.execute(select(func.count()).select_from(User))).scalar_one() == 1
    assert [row.email for row in await _users(engine)] == ["taken0@example.com"]


async def test_a_soft_deleted_email_can_be_bulk_registered_again(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        await register_users(session, _models(2))
        user = (await session.execute(select(User).filter_by(email="u0@example.com"))).scalar_one()
        user.soft_delete()
        await session.commit()
    async with AsyncSession(engine) as session:
        assert await register_users(session, _models(1)) == 1
    rows = [(row.email, row.deleted_at is None) for row in await _users(engine)]
    assert rows == [("u0@example.com", False), ("u1@example.com", True), ("u0@example.com", True)]


async def test_skip_falls_back_to_an_executemany_that_keeps_existing_rows(
    engine: AsyncEngine, statements: Statements
) -> None:
    async with AsyncSession(engine) as session:
        await register_users(session, _models(2))
    statements.seen.clear()
    async with AsyncSession(engine) as session:
        assert await UserRepository(session).add_many(_rows(5), on_conflict="skip") == 3
        await session.commit()
    assert any("ON CONFLICT" in statement for statement in statements.seen)
    assert [row.email for row in await _users(engine)][-3:] == ["u2@example.com", "u3@example.com", "u4@example.com"]
    assert all(row.role == "member" and row.created_at == row.updated_at for row in await _users(engine))


# -- the sync twin: psycopg 3 ---------------------------------------------------------------------------------


def test_sync_bulk_rows_get_the_orm_defaults(sync_engine: Engine) -> None:
    recorder = Statements(sync_engine)
    try:
        with Session(sync_engine) as session:
            assert register_users_sync(session, _models(3)) == 3
    finally:
        recorder.close()
    # psycopg's COPY and its column-type lookup went through the raw connection: SQLAlchemy executed nothing.
    assert recorder.seen == []
    with sync_engine.connect() as conn:
        rows = conn.execute(text("SELECT role, is_active, created_at, updated_at, deleted_at FROM users")).all()
    assert len(rows) == 3
    assert all(
        r.role == "member" and r.is_active and r.created_at == r.updated_at and r.deleted_at is None for r in rows
    )


def test_sync_duplicates_write_nothing_and_rollback_undoes_a_copy(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        register_users_sync(session, _models(1, "taken"))
    with Session(sync_engine) as session:
        with pytest.raises(Conflict, match="already exists"):
            SyncUserRepository(session).add_many([*_rows(10), {"email": "taken0@example.com", "name": "x"}])
        session.rollback()
        assert SyncUserRepository(session).add_many(_rows(10)) == 10
        session.rollback()  # COPY ran in the session's transaction
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_sync_skip_keeps_existing_rows(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        register_users_sync(session, _models(2))
    with Session(sync_engine) as session:
        assert SyncUserRepository(session).add_many(_rows(4), on_conflict="skip") == 2
        session.commit()
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 4


# -- through both apps, with a pool of ONE connection -----------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Overrides the suite's: a single pooled connection, so the request after a failed COPY reuses its connection."""
    return make_settings(database_url, pool=PoolSettings(pool_size=1, max_overflow=0, pool_timeout=5))


async def _app_backend_states(engine: AsyncEngine) -> list[str]:
    """The states of the app's connections, seen from PostgreSQL (``application_name`` of the test settings)."""
    query = "SELECT state FROM pg_stat_activity WHERE application_name = 'service-tests' AND pid <> pg_backend_pid()"
    async with engine.connect() as conn:
        return [str(state) for state in (await conn.execute(text(query))).scalars()]


async def test_a_failed_copy_leaves_the_pooled_connection_usable(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    assert (await client.post("/users", json={"email": "taken@example.com", "name": "T"})).status_code == 201
    refused = await client.post("/users/bulk", json=[*_rows(100), {"email": "taken@example.com", "name": "x"}])
    assert refused.status_code == 409
    assert "already exists" in refused.json()["detail"]
    # The same (only) connection serves the next requests: its aborted transaction was rolled back.
    assert (await client.post("/users", json={"email": "after@example.com", "name": "A"})).status_code == 201
    assert (await client.get("/users")).json()["total"] == 2
    assert (await client.post("/users/bulk", json=_rows(100))).status_code == 201
    assert await _count(engine) == 102
    assert "idle in transaction (aborted)" not in await _app_backend_states(engine)


async def test_bulk_request_limits_and_bad_rows(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    bad = [*_rows(10), {"email": "not-an-email", "name": "x"}]
    assert (await client.post("/users/bulk", json=bad)).status_code == 422
    assert await _count(engine) == 0  # one bad row: nothing lands
    response = await client.post("/users/bulk", json=_rows(10_000))
    assert response.status_code == 201, response.text[:300]
    assert response.json() == {"inserted": 10_000}
    too_many = await client.post("/users/bulk", json=_rows(10_001, "x"))
    assert too_many.status_code == 422
    async with engine.connect() as conn:
        summary = (
            await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT created_at), bool_and(role = 'member' AND is_active"
                    " AND deleted_at IS NULL AND created_at = updated_at) FROM users"
                )
            )
        ).one()
    assert tuple(summary) == (10_000, 1, True)


# -- driver errors, which SQLAlchemy does not wrap on the raw connection ------------------------------------------


async def test_a_connection_lost_before_copy_is_a_503(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with engine.connect() as admin:
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(ServiceUnavailable):
            await UserRepository(session).add_many(_rows(10))
        await session.invalidate()  # what the request teardown does when the rollback cannot reach the server
    assert await _count(engine) == 0


def test_sync_a_connection_lost_before_copy_is_a_503(sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with sync_engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        with pytest.raises(ServiceUnavailable):
            SyncUserRepository(session).add_many(_rows(10))
        session.invalidate()
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
