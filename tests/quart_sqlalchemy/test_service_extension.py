"""The service's subclass of the extension (``service.quart_app.extension.ServiceSQLAlchemy``): the service's own
engine, read-only reads on the autocommit engine chosen once per session, and nothing of the extension's optional
features on its request path (no tracking listeners, no second query recorder)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy.event as sa_event
from quart import Quart

from service.config import Settings
from service.db.read_only import READ_ONLY
from service.quart_app import create_app
from service.quart_app.extension import QuartSession, ServiceSQLAlchemy
from service.quart_sqlalchemy import record_queries, track_modifications


def _routes(app: Quart) -> None:
    db: ServiceSQLAlchemy = app.extensions["sqlalchemy"]

    async def which() -> Any:
        session = db.session.sync_session
        engine = session._only_engine
        return {
            "read_only": session.info.get(READ_ONLY, False),
            "autocommit": engine is not None and engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT",
            "default_engine": engine is db.engine.sync_engine,
            "session_class": type(session).__name__,
        }

    app.add_url_rule("/_t/which", view_func=which, methods=["GET", "POST"])


async def test_read_only_sessions_run_on_the_autocommit_engine(settings: Settings) -> None:
    app = create_app(settings)
    _routes(app)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        read = await (await client.get("/_t/which")).get_json()
        write = await (await client.post("/_t/which")).get_json()
    assert read == {"read_only": True, "autocommit": True, "default_engine": False, "session_class": "QuartSession"}
    assert write == {"read_only": False, "autocommit": False, "default_engine": True, "session_class": "QuartSession"}


async def test_without_autocommit_reads_the_guard_stays_on_the_default_engine(settings: Settings) -> None:
    app = create_app(replace(settings, pgbouncer="transaction"))  # SQLALCHEMY_AUTOCOMMIT_READS false
    _routes(app)
    async with app.test_app() as test_app:
        read = await (await test_app.test_client().get("/_t/which")).get_json()
    assert read == {"read_only": True, "autocommit": False, "default_engine": True, "session_class": "QuartSession"}


async def test_no_optional_listener_on_the_service_s_path(settings: Settings) -> None:
    """``SQLALCHEMY_RECORD_QUERIES`` on: the service's own recorder answers (``X-Query-Count``), the extension's is
    not installed beside it; ``SQLALCHEMY_TRACK_MODIFICATIONS`` off: no session listener."""
    app = create_app(replace(settings, record_queries=True))
    db: ServiceSQLAlchemy = app.extensions["sqlalchemy"]
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/users/1")
        engine = db.engine.sync_engine
        assert not sa_event.contains(engine, "before_cursor_execute", record_queries._record_start)
        assert not sa_event.contains(engine, "after_cursor_execute", record_queries._record_end)
    assert response.status_code == 404
    assert response.headers["X-Query-Count"] == "1"
    assert app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] is False
    for session_class in (QuartSession, *QuartSession.__mro__[1:3]):
        for name, listener in (
            ("before_commit", track_modifications._before_commit),
            ("after_commit", track_modifications._after_commit),
        ):
            assert not sa_event.contains(session_class, name, listener), (session_class, name)
