"""Trap: work that runs after the response and still uses the request's session (docs/porting.md, trap 4).

Quart tears the request down (the extension closes ``db.session``) *before* it sends the response. A task the view
started with ``asyncio.create_task`` outlives that: it still sees the request's ``g``, so ``db.session`` there makes
a new session that no teardown will ever close — its connection stays checked out, ``idle in transaction`` on the
server — and the ORM objects it was handed are detached. ``app.add_background_task`` runs the work in an app
context of its own, whose teardown closes the session the work used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from quart import Quart, jsonify
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.config import Settings
from service.db.models import User
from tests.support.servers import LiveServer, checked_out, serve_quart


@dataclass
class Probe:
    """What the work scheduled by a view saw, and the switches the test holds it with."""

    go: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: dict[str, Any] = field(default_factory=dict)
    orphans: list[AsyncSession] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _routes(probe: Probe) -> Callable[[Quart], None]:
    def configure(app: Quart) -> None:
        db = app.extensions["sqlalchemy"]

        @app.post("/_t/naive/<int:user_id>")
        async def naive(user_id: int) -> Any:
            user = await db.get_or_404(User, user_id)
            request_session = db.session

            async def later() -> None:
                await probe.go.wait()  # the client has its response: the request was torn down before it was sent
                try:
                    probe.outcome["detached"] = inspect(user).detached
                    session = db.session  # still the request's g, whose session the teardown already took
                    probe.orphans.append(session)
                    probe.outcome["same_session"] = session is request_session
                    probe.outcome["name"] = (
                        await session.execute(select(User.name).where(User.id == user_id))
                    ).scalar_one()
                    try:
                        await request_session.refresh(user)
                    except InvalidRequestError as exc:
                        probe.outcome["refresh_error"] = str(exc)
                finally:
                    probe.done.set()

            probe.tasks.append(asyncio.create_task(later()))  # the Flask habit: a thread, an executor, a task
            return jsonify(scheduled=True)

        @app.post("/_t/background/<int:user_id>")
        async def background(user_id: int) -> Any:
            user = await db.get_or_404(User, user_id)

            async def later(user_id: int) -> None:  # an id, not the request's object or session
                await probe.go.wait()
                try:
                    found = await db.get_or_404(User, user_id)  # db.session of the task's own app context
                    found.name = f"{found.name} (welcomed)"
                    await db.session.commit()
                    probe.outcome["name"] = found.name
                finally:
                    probe.done.set()

            app.add_background_task(later, user.id)
            return jsonify(scheduled=True)

    return configure


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def server(settings: Settings, probe: Probe) -> AsyncIterator[LiveServer]:
    async with serve_quart(settings, configure=_routes(probe)) as live:
        yield live


@pytest.fixture
async def user_id(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        user = User(email="ada@example.com", name="Ada")
        session.add(user)
        await session.flush()
        new_id = user.id  # before the commit, which expires it (trap 2)
        await session.commit()
        return new_id


async def _idle_in_transaction(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
        return int(found.scalar_one())


async def test_a_task_started_by_the_view_leaks_a_session_the_teardown_never_sees(
    server: LiveServer, probe: Probe, engine: AsyncEngine, user_id: int
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post(f"/_t/naive/{user_id}")).json() == {"scheduled": True}
    assert checked_out(server.app) == 0  # the request itself returned its connection
    probe.go.set()
    await asyncio.wait_for(probe.done.wait(), 10)
    try:
        assert probe.outcome["detached"] is True  # the teardown's close() expunged every object of the request
        assert "is not persistent within this Session" in probe.outcome["refresh_error"]
        assert probe.outcome["same_session"] is False  # a new session, on a context nobody will tear down again
        assert probe.outcome["name"] == "Ada"
        # ... and it holds a pooled connection, in an open transaction, after the request is long over.
        assert checked_out(server.app) == 1
        assert await _idle_in_transaction(engine) == 1
    finally:
        for session in probe.orphans:
            await session.close()
    assert checked_out(server.app) == 0


async def test_add_background_task_gives_the_work_a_session_of_its_own(
    server: LiveServer, probe: Probe, engine: AsyncEngine, user_id: int
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post(f"/_t/background/{user_id}")).json() == {"scheduled": True}
    probe.go.set()
    await asyncio.wait_for(probe.done.wait(), 10)
    await asyncio.wait_for(asyncio.gather(*server.app.background_tasks), 10)  # its app context is torn down
    assert probe.outcome["name"] == "Ada (welcomed)"
    assert checked_out(server.app) == 0
    assert await _idle_in_transaction(engine) == 0
    async with engine.connect() as conn:
        stored = await conn.execute(select(User.name).where(User.id == user_id))
        assert stored.scalar_one() == "Ada (welcomed)"
        assert (await conn.execute(select(func.count()).select_from(User))).scalar_one() == 1
