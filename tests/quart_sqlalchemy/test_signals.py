"""``SQLALCHEMY_TRACK_MODIFICATIONS``: ``before_models_committed`` and ``models_committed``, on Flask-SQLAlchemy and on
ours: the same payload (sender the app, ``changes=[(instance, operation)]``), sent at the same points, never for a
rolled-back transaction; on Quart, sync and async receivers alike."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import flask_sqlalchemy.session
import flask_sqlalchemy.track_modifications
import pytest
import sqlalchemy as sa
import sqlalchemy.event as sa_event
from quart import Quart, has_app_context
from sqlalchemy import exc as sa_exc

from service.quart_sqlalchemy import before_models_committed, models_committed, track_modifications
from service.quart_sqlalchemy.session import Session
from tests.quart_sqlalchemy.twins import Databases, Side, aw, define_models, on_both, rows, same, standard_config

Log = list[tuple[str, str, list[tuple[str, str, str]]]]


def tracking(databases: Databases, kind: str) -> dict[str, Any]:
    return {**standard_config(databases, kind), "SQLALCHEMY_TRACK_MODIFICATIONS": True}


_SESSION_CLASSES: list[type[Any]] = []
"""Every class made by :func:`own_session_class`, kept for the whole run: SQLAlchemy's event registry keys a class's
listeners by ``id(cls)`` and keeps the key after the class is collected, so a new class at a collected one's address
looked already listened to, and Flask-SQLAlchemy's ``_listen`` (which asks ``event.contains``) skipped it."""


def own_session_class(kind: str) -> dict[str, Any]:
    """A session class per test: the listeners are per class, and the other tests' classes must stay without.

    ``expire_on_commit=False`` on both (ours by default): a receiver reads the instances after the commit.
    """
    base = flask_sqlalchemy.session.Session if kind == "flask" else Session
    _SESSION_CLASSES.append(session_class := type("TrackedSession", (base,), {}))
    return {"session_options": {"class_": session_class, "expire_on_commit": False}}


def signals(side: Side) -> tuple[Any, Any]:
    if side.is_quart:
        return before_models_committed, models_committed
    return (
        flask_sqlalchemy.track_modifications.before_models_committed,
        flask_sqlalchemy.track_modifications.models_committed,
    )


def describe(changes: list[tuple[Any, str]]) -> list[tuple[str, str, str]]:
    return [(type(obj).__name__, str(getattr(obj, "name", getattr(obj, "text", None))), op) for obj, op in changes]


@contextmanager
def recording(side: Side, log: Log) -> Iterator[None]:
    """Log every send of both signals: which, whether the sender was the app, and the changes."""
    before, after = signals(side)

    def on_before(sender: Any, changes: list[tuple[Any, str]]) -> None:
        log.append(("before", "app" if sender is side.app else repr(sender), describe(changes)))

    def on_after(sender: Any, changes: list[tuple[Any, str]]) -> None:
        log.append(("after", "app" if sender is side.app else repr(sender), describe(changes)))

    with ExitStack() as stack:
        stack.enter_context(before.connected_to(on_before))
        stack.enter_context(after.connected_to(on_after))
        yield


async def run(databases: dict[str, Databases], scenario: Any) -> Any:
    return same(await on_both(databases, define_models, scenario, config=tracking, db_options=own_session_class))


async def create_tables(side: Side) -> None:
    async with side.context():
        await aw(side.db.create_all())


async def test_inserts_updates_and_deletes_are_sent_before_and_after_each_commit(
    databases: dict[str, Databases],
) -> None:
    async def scenario(side: Side) -> Any:
        m, log = side.models, []
        await create_tables(side)
        with recording(side, log):
            async with side.context():
                session = side.db.session
                session.add_all([m.Author(name="ada"), m.Author(name="grace"), m.Note(text="other bind")])
                await aw(session.commit())
                ada = (await aw(session.execute(sa.select(m.Author).filter_by(name="ada")))).scalar_one()
                ada.name = "ada lovelace"
                await aw(session.commit())
                await aw(session.delete(ada))
                await aw(session.commit())
                await aw(session.commit())  # nothing changed: nothing sent
        return log

    inserts = [("Author", "ada", "insert"), ("Author", "grace", "insert"), ("Note", "other bind", "insert")]
    assert await run(databases, scenario) == [
        ("before", "app", inserts),
        ("after", "app", inserts),
        ("before", "app", [("Author", "ada lovelace", "update")]),
        ("after", "app", [("Author", "ada lovelace", "update")]),
        ("before", "app", [("Author", "ada lovelace", "delete")]),
        ("after", "app", [("Author", "ada lovelace", "delete")]),
    ]


async def test_changes_flushed_before_the_commit_are_all_sent(databases: dict[str, Databases]) -> None:
    """Recorded at each flush too: an object inserted by an earlier flush and changed again is both."""

    async def scenario(side: Side) -> Any:
        m, log = side.models, []
        await create_tables(side)
        with recording(side, log):
            async with side.context():
                session = side.db.session
                author = m.Author(name="ada")
                session.add(author)
                await aw(session.flush())
                author.name = "ada lovelace"
                await aw(session.commit())
        return log

    changes = [("Author", "ada lovelace", "insert"), ("Author", "ada lovelace", "update")]
    assert await run(databases, scenario) == [("before", "app", changes), ("after", "app", changes)]


async def test_a_rolled_back_transaction_is_never_sent(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        m, log = side.models, []
        await create_tables(side)
        with recording(side, log):
            async with side.context():
                session = side.db.session
                session.add(m.Author(name="rolled back"))
                await aw(session.flush())
                await aw(session.rollback())
                await aw(session.commit())
                session.add(m.Author(name="kept"))
                await aw(session.commit())
            async with side.context():  # uncommitted at teardown: rolled back, never sent
                side.db.session.add(m.Author(name="abandoned"))
                await aw(side.db.session.flush())
        return log

    assert await run(databases, scenario) == [
        ("before", "app", [("Author", "kept", "insert")]),
        ("after", "app", [("Author", "kept", "insert")]),
    ]


async def test_a_failed_commit_sends_before_but_never_after(databases: dict[str, Databases]) -> None:
    """``before_models_committed`` precedes the commit's flush (as in Flask-SQLAlchemy); the flush fails, the
    transaction is rolled back, and ``models_committed`` is not sent for it."""

    async def scenario(side: Side) -> Any:
        m, log = side.models, []
        await create_tables(side)
        with recording(side, log):
            async with side.context():
                session = side.db.session
                session.add(m.Author(name="ada"))
                await aw(session.commit())
                session.add(m.Author(name="ada"))  # unique name: the commit's flush fails
                with pytest.raises(sa_exc.IntegrityError):
                    await aw(session.commit())
                await aw(session.rollback())
                session.add(m.Author(name="grace"))
                await aw(session.commit())
        return log

    ada, grace = [("Author", "ada", "insert")], [("Author", "grace", "insert")]
    assert await run(databases, scenario) == [
        ("before", "app", ada),
        ("after", "app", ada),
        ("before", "app", ada),
        ("before", "app", grace),
        ("after", "app", grace),
    ]


async def test_models_committed_is_sent_once_the_rows_are_committed(databases: dict[str, Databases]) -> None:
    """Seen from another connection: not yet committed in ``before_models_committed``, committed in
    ``models_committed``."""

    async def scenario(side: Side) -> Any:
        m, seen = side.models, []
        before, after = signals(side)
        await create_tables(side)

        def count(name: str) -> Any:
            def receiver(sender: Any, changes: Any) -> None:
                seen.append((name, rows(side.databases.default, "SELECT count(*) FROM author")[0][0]))

            return receiver

        on_before, on_after = count("before"), count("after")
        with before.connected_to(on_before), after.connected_to(on_after):
            async with side.context():
                side.db.session.add(m.Author(name="ada"))
                await aw(side.db.session.commit())
        return seen

    assert await run(databases, scenario) == [("before", 0), ("after", 1)]


async def test_nothing_is_sent_or_installed_when_tracking_is_off(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        log: Log = []
        await create_tables(side)
        with recording(side, log):
            async with side.context():
                side.db.session.add(side.models.Author(name="ada"))
                await aw(side.db.session.commit())
                session_class = type(side.db.session.sync_session) if side.is_quart else None
        return log, session_class

    results = await on_both(databases, define_models, scenario, db_options=own_session_class)
    assert same({kind: log for kind, (log, _) in results.items()}) == []
    assert results["flask"][1] is None
    session_class = results["quart"][1]
    for name, listener in (
        ("before_flush", track_modifications._record_ops),
        ("before_commit", track_modifications._before_commit),
        ("after_commit", track_modifications._after_commit),
        ("after_rollback", track_modifications._after_rollback),
    ):
        assert not sa_event.contains(session_class, name, listener)


@pytest.fixture
async def quart_side(databases: dict[str, Databases]) -> Any:
    from tests.quart_sqlalchemy.twins import running

    async with running(
        "quart", databases["quart"], define_models, config=tracking, db_options=own_session_class
    ) as side:
        await create_tables(side)
        yield side


async def test_async_and_sync_receivers_get_the_same_payload(quart_side: Side) -> None:
    m, got = quart_side.models, []
    main_thread = threading.get_ident()

    async def async_receiver(sender: Quart, changes: list[tuple[Any, str]]) -> None:
        await asyncio.sleep(0.01)  # really awaited: the commit waits for it
        got.append(("async", sender is quart_side.app, describe(changes), has_app_context()))

    def sync_receiver(sender: Quart, changes: list[tuple[Any, str]]) -> None:
        # Quart runs a sync receiver through app.ensure_async: in a worker thread, with the app context.
        got.append(("sync", sender is quart_side.app, describe(changes), threading.get_ident() != main_thread))

    with models_committed.connected_to(async_receiver), models_committed.connected_to(sync_receiver):
        async with quart_side.context():
            quart_side.db.session.add(m.Author(name="ada"))
            await quart_side.db.session.commit()
            committed = list(got)

    ada = [("Author", "ada", "insert")]
    assert sorted(committed) == [("async", True, ada, True), ("sync", True, ada, True)]


async def test_a_commit_through_session_begin_is_sent(quart_side: Side) -> None:
    log: Log = []
    with recording(quart_side, log):
        async with quart_side.context():
            async with quart_side.db.session.begin():
                quart_side.db.session.add(quart_side.models.Author(name="ada"))
    assert log == [("before", "app", [("Author", "ada", "insert")]), ("after", "app", [("Author", "ada", "insert")])]


async def test_a_request_that_commits_sends_with_the_app_as_sender(quart_side: Side) -> None:
    log: Log = []

    @quart_side.app.post("/authors")
    async def add() -> Any:
        quart_side.db.session.add(quart_side.models.Author(name="ada"))
        await quart_side.db.session.commit()
        return {"ok": True}

    @quart_side.app.post("/abandon")
    async def abandon() -> Any:
        quart_side.db.session.add(quart_side.models.Author(name="abandoned"))
        await quart_side.db.session.flush()
        return {"ok": True}

    with recording(quart_side, log):
        client = quart_side.app.test_client()
        assert (await client.post("/authors")).status_code == 200
        assert (await client.post("/abandon")).status_code == 200
    assert log == [("before", "app", [("Author", "ada", "insert")]), ("after", "app", [("Author", "ada", "insert")])]


def test_the_signals_are_the_extension_s_own_blinker_signals() -> None:
    assert models_committed.name == flask_sqlalchemy.track_modifications.models_committed.name
    assert before_models_committed.name == flask_sqlalchemy.track_modifications.before_models_committed.name
    assert models_committed is not flask_sqlalchemy.track_modifications.models_committed


def test_a_new_class_at_a_collected_class_address_gets_the_listeners() -> None:
    """``event.contains`` answers for an address, not a class: ours must not take a new class for a listened one."""
    listened = type("TrackedSession", (Session,), {})
    track_modifications._listen(listened)
    address = id(listened)
    del listened
    gc.collect()
    for _ in range(10_000):
        fresh = type("TrackedSession", (Session,), {})
        if id(fresh) == address:
            break
        _SESSION_CLASSES.append(fresh)  # held, so the next class is made at another address
    else:
        pytest.skip("no class was made at the collected one's address")
    assert sa_event.contains(fresh, "after_commit", track_modifications._after_commit)  # the registry's stale key
    track_modifications._listen(fresh)
    assert track_modifications._after_commit in list(fresh().dispatch.after_commit)
