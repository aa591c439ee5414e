"""The service's configuration of the Quart extension (:mod:`service.quart_sqlalchemy`), as
:mod:`service.flask_app.extension` configures Flask-SQLAlchemy for the twin: the same metadata, the same hooks.

* the engines are built by :func:`service.db.engine.make_async_engine` (its one-round-trip pre-ping and the bypass
  window), from the options as given;
* a GET or HEAD request's session is read-only, in autocommit (:mod:`service.db.read_only`): it runs on the
  autocommit views of the app's engines, chosen once when the session is made, so no statement pays for the choice;
* every session carries the soft-delete hook (:mod:`service.db.soft_delete`).
"""

from __future__ import annotations

from typing import Any

from quart import Quart, has_request_context, request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.db.base import Base
from service.db.engine import make_async_engine
from service.db.read_only import READ_ONLY, autocommit, install_read_only_guard, is_read_only_method
from service.db.soft_delete import install_soft_delete
from service.quart_sqlalchemy import Session, SQLAlchemy
from service.quart_sqlalchemy.extension import AppState, BindKey
from service.quart_sqlalchemy.session import Engines


class QuartSession(Session):
    """The sync session class behind every request's ``AsyncSession`` (carries the soft-delete hook and the
    read-only guard)."""


class ServiceAppState(AppState):
    """An app's engines, and the engines of its read-only sessions (their autocommit views)."""

    def __init__(self, options: dict[BindKey, dict[str, Any]], record_queries: bool) -> None:
        super().__init__(options, record_queries)
        self.read_only_engines: Engines = {}


class ServiceSQLAlchemy(SQLAlchemy):
    """The extension on :data:`Base.metadata`, with the service's engines, read-only reads and soft delete.

    ``SQLALCHEMY_AUTOCOMMIT_READS`` (default true): whether read-only sessions run in autocommit; false keeps the
    guard but runs them in a transaction like the others (behind a transaction-mode PgBouncer).
    """

    def __init__(self, app: Quart | None = None, **kwargs: Any) -> None:
        install_soft_delete(QuartSession)
        install_read_only_guard(QuartSession)
        kwargs.setdefault("metadata", Base.metadata)
        kwargs.setdefault("session_options", {"class_": QuartSession})
        super().__init__(app, **kwargs)

    def init_app(self, app: Quart) -> None:
        app.config.setdefault("SQLALCHEMY_AUTOCOMMIT_READS", True)
        super().init_app(app)

    def _make_app_state(self, options: dict[BindKey, dict[str, Any]], *, record_queries: bool) -> AppState:
        return ServiceAppState(options, record_queries)

    def _make_engine(self, bind_key: BindKey, options: dict[str, Any], app: Quart) -> AsyncEngine:
        return make_async_engine(options.pop("url"), **options)

    def _listen_record_queries(self, engine: AsyncEngine) -> None:
        """Nothing: the service records each request's statements itself, on both apps
        (:mod:`service.observability.queries`, ``X-Query-Count``); a second recorder would double the work."""

    def _create_engines(self, app: Quart, state: AppState) -> None:
        super()._create_engines(app, state)
        read_only = state.sync_engines
        if app.config["SQLALCHEMY_AUTOCOMMIT_READS"]:
            read_only = {key: autocommit(engine) for key, engine in read_only.items()}
        assert isinstance(state, ServiceAppState)  # made by _make_app_state
        state.read_only_engines = read_only

    def _make_session(self, state: AppState) -> AsyncSession:
        """A read-only session for a GET or HEAD request (on the autocommit engines), else the usual one."""
        if has_request_context() and is_read_only_method(request.method):
            assert isinstance(state, ServiceAppState)  # made by _make_app_state
            return self._session_factory(engines=state.read_only_engines, info={READ_ONLY: True})
        return self._session_factory(engines=state.sync_engines)  # the base's, without a call more per request
