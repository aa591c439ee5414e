"""The service's configuration of the Quart extension (:mod:`service.quart_sqlalchemy`), as
:mod:`service.flask_app.extension` configures Flask-SQLAlchemy for the twin: the same metadata, the same hooks.

* the engines are built by :func:`service.db.engine.make_async_engine` (its one-round-trip pre-ping and the bypass
  window), from the options as given;
* a GET or HEAD request's session is read-only, in autocommit (:mod:`service.db.read_only`): it runs on the
  autocommit views of the app's engines, chosen once when the session is made, so no statement pays for the choice;
* with standbys configured (``SQLALCHEMY_REPLICA_URIS``), a read-only session reads from one of them when one has
  replayed what the request's ``X-Consistency-Token`` names (:mod:`service.replication`); a monitor task samples
  their positions while the app serves;
* every session carries the soft-delete hook (:mod:`service.db.soft_delete`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from quart import Quart, current_app, has_request_context, request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.db.base import Base
from service.db.engine import make_async_engine
from service.db.read_only import READ_ONLY, autocommit, install_read_only_guard, is_read_only_method
from service.db.soft_delete import install_soft_delete
from service.quart_sqlalchemy import Session, SQLAlchemy
from service.quart_sqlalchemy.extension import AppState, BindKey
from service.quart_sqlalchemy.session import Engines
from service.replication._async.router import ReadRouter, monitor
from service.replication.config import standby_config
from service.replication.routes import ROUTE, RoutedSession, route_read
from service.replication.tokens import HEADER


class QuartSession(Session):
    """The sync session class behind every request's ``AsyncSession`` (carries the soft-delete hook and the
    read-only guard)."""


class RoutedQuartSession(RoutedSession, QuartSession):
    """The session of a read that may go to a standby: only these pay for the look-up at each statement."""


class ServiceAppState(AppState):
    """An app's engines, the engines of its read-only sessions (their autocommit views), and its standbys."""

    def __init__(self, options: dict[BindKey, dict[str, Any]], record_queries: bool) -> None:
        super().__init__(options, record_queries)
        self.read_only_engines: Engines = {}
        self.router: ReadRouter | None = None
        self.monitor: asyncio.Task[None] | None = None


class ServiceSQLAlchemy(SQLAlchemy):
    """The extension on :data:`Base.metadata`, with the service's engines, read-only reads and soft delete.

    ``SQLALCHEMY_AUTOCOMMIT_READS`` (default true): whether read-only sessions run in autocommit; false keeps the
    guard but runs them in a transaction like the others (behind a transaction-mode PgBouncer).

    ``SQLALCHEMY_REPLICA_URIS``: streaming standbys for read-only sessions, reached directly (their sessions always
    run in autocommit); with ``SQLALCHEMY_REPLICA_MAX_LAG`` and ``SQLALCHEMY_REPLICA_ENGINE_OPTIONS``
    (:class:`service.replication.config.StandbyConfig`).
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
        app.before_serving(self._start_monitor)  # after the base's, which opens the engines

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
        assert state.engines is not None  # made by super()
        primary = state.engines[None]
        if app.config["SQLALCHEMY_AUTOCOMMIT_READS"]:
            primary = autocommit(primary)
        standbys = standby_config(app.config)
        engines = [make_async_engine(url, **dict(standbys.engine_options)) for url in standbys.urls]
        binds = [autocommit(engine.sync_engine) for engine in engines]
        state.router = ReadRouter(primary, engines, binds, standbys.names, standbys.max_lag, standbys.metrics)

    def router(self) -> ReadRouter:
        """The current app's standbys, tokens and sampling (its engines are made on first use)."""
        state = self._get_state(self._current_app())
        assert isinstance(state, ServiceAppState)
        assert state.router is not None  # made with the engines
        return state.router

    async def _start_monitor(self) -> None:
        """Sample the standbys once (so that reads use them from the first request), then every poll interval."""
        state = self._get_state(current_app._get_current_object())  # type: ignore[attr-defined]
        assert isinstance(state, ServiceAppState)
        router = state.router
        assert router is not None  # made with the engines
        if router.standbys and state.monitor is None:
            await router.sample()
            state.monitor = asyncio.create_task(monitor(weakref.ref(router)), name="standby-monitor")

    async def _dispose_engines(self) -> None:
        state = self._get_state(current_app._get_current_object(), create=False)  # type: ignore[attr-defined]
        assert isinstance(state, ServiceAppState)
        monitor, state.monitor = state.monitor, None
        if monitor is not None:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        router, state.router = state.router, None
        await super()._dispose_engines()
        for engine in router.standbys if router is not None else ():
            await engine.dispose()

    def _make_session(self, state: AppState) -> AsyncSession:
        """A read-only session for a GET or HEAD request (on the autocommit engines, or routed to a standby), else
        the usual one."""
        if has_request_context() and is_read_only_method(request.method):
            assert isinstance(state, ServiceAppState)  # made by _make_app_state
            router = state.router
            if router is not None and router.standbys:
                route = route_read(router, request.endpoint, request.headers.get(HEADER))
                if route is not None:
                    return self._session_factory(
                        engines=state.read_only_engines,
                        info={READ_ONLY: True, ROUTE: route},
                        sync_session_class=RoutedQuartSession,
                    )
            return self._session_factory(engines=state.read_only_engines, info={READ_ONLY: True})
        return self._session_factory(engines=state.sync_engines)  # the base's, without a call more per request
