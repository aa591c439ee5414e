"""Flask-SQLAlchemy, configured for the shared models: the same metadata, the same soft-delete hook.

Flask-SQLAlchemy's own ``db.session`` is used: scoped to the app context and removed in its ``teardown_appcontext``,
so uncommitted work is rolled back and the connection returns to the pool. As on the async side, a GET or HEAD
request's session is read-only, in autocommit (:mod:`service.db.read_only`), and with standbys configured it reads
from one that has replayed the request's ``X-Consistency-Token`` (:mod:`service.replication`; each worker process
samples their positions in a thread of its own).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from flask import Flask, current_app, has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from sqlalchemy.orm import sessionmaker

from service.db.base import Base
from service.db.engine import make_sync_engine
from service.db.read_only import READ_ONLY, autocommit, install_read_only_guard, is_read_only_method
from service.db.soft_delete import install_soft_delete
from service.replication._sync.router import ReadRouter, monitor
from service.replication.config import standby_config
from service.replication.routes import ROUTE, RoutedSession, route_read
from service.replication.tokens import HEADER


class _ReadOnlyViewSession(Session):
    """Flask-SQLAlchemy's session on the autocommit views of its engines when read-only."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: sa.engine.Engine | sa.engine.Connection | None = None,
        **kwargs: Any,
    ) -> sa.engine.Engine | sa.engine.Connection:
        """Flask-SQLAlchemy's choice of engine; its autocommit view for a read-only session."""
        chosen = super().get_bind(mapper, clause, bind, **kwargs)
        if bind is not None or not self.info.get(READ_ONLY) or not isinstance(chosen, sa.engine.Engine):
            return chosen
        db: ServiceSQLAlchemy = self._db  # type: ignore[assignment]
        return db.read_only_engine(chosen)


class FlaskSession(RoutedSession, _ReadOnlyViewSession):
    """The session class behind ``db.session`` (carries the soft-delete hook and the read-only guard); a read
    routed to a standby reads there, any other on the primary's engines."""


class ServiceSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy, building its engine with :func:`make_sync_engine` (the async side's pre-ping) and the
    options as given.

    Its ``engine_from_config`` coerces ``pool_timeout`` to an int: ``DB_POOL_TIMEOUT=0.5`` became 0 on the twin,
    so a pool wait failed at once where the async app waited half a second.

    The standbys' keys are the Quart extension's (:class:`service.replication.config.StandbyConfig`).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Per app (as Flask-SQLAlchemy keeps its engines), so an app's engines are not kept alive after it.
        self._read_only_engines: WeakKeyDictionary[Flask, dict[sa.engine.Engine, sa.engine.Engine]] = (
            WeakKeyDictionary()
        )
        self._routers: WeakKeyDictionary[Flask, ReadRouter] = WeakKeyDictionary()
        self._monitors: WeakKeyDictionary[ReadRouter, int] = WeakKeyDictionary()
        """The process that started each router's sampling thread: a forked worker starts its own."""

    def init_app(self, app: Flask) -> None:
        super().init_app(app)
        with app.app_context():
            primary = self.read_only_engine(self.engines[None])
        standbys = standby_config(app.config)
        engines = [make_sync_engine(url, **dict(standbys.engine_options)) for url in standbys.urls]
        binds = [autocommit(engine) for engine in engines]
        self._routers[app] = ReadRouter(primary, engines, binds, standbys.names, standbys.max_lag, standbys.metrics)

    def router(self) -> ReadRouter:
        """The current app's standbys, tokens and sampling; the sampling thread starts in each process on first use."""
        router = self._routers[current_app._get_current_object()]  # type: ignore[attr-defined]
        if router.standbys and self._monitors.get(router) != os.getpid():
            self._monitors[router] = os.getpid()
            router.sample()  # reads use the standbys from this first request on
            threading.Thread(target=monitor, args=(weakref.ref(router),), name="standby-monitor", daemon=True).start()
        return router

    def read_only_engine(self, engine: sa.engine.Engine) -> sa.engine.Engine:
        """The autocommit view of one of the current app's engines, built once (``execution_options`` copies).

        ``engine`` itself where the app's ``SQLALCHEMY_AUTOCOMMIT_READS`` is false.
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        views = self._read_only_engines.setdefault(app, {})
        view = views.get(engine)
        if view is None:
            view = views[engine] = autocommit(engine) if app.config.get("SQLALCHEMY_AUTOCOMMIT_READS", True) else engine
        return view

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> sa.engine.Engine:
        options = dict(options)
        return make_sync_engine(options.pop("url"), **options)

    def _make_session_factory(self, options: dict[str, Any]) -> sessionmaker[Session]:
        """Flask-SQLAlchemy's factory, making a read-only session for a GET or HEAD request."""
        factory = super()._make_session_factory(options)

        def make_session(**kwargs: Any) -> Session:
            if has_request_context() and is_read_only_method(request.method):
                info = kwargs.setdefault("info", {})
                info[READ_ONLY] = True
                router = self.router()
                if router.standbys:
                    route = route_read(router, request.endpoint, request.headers.get(HEADER))
                    if route is not None:
                        info[ROUTE] = route
            return factory(**kwargs)

        # scoped_session only calls its factory; configure() is not used with Flask-SQLAlchemy's options.
        return make_session  # type: ignore[return-value]


def make_db() -> ServiceSQLAlchemy:
    """A Flask-SQLAlchemy instance on :data:`Base.metadata`; ``init_app`` is the caller's.

    ``expire_on_commit=False`` as on the async side: handlers serialize objects after the use case committed.
    """
    install_soft_delete(FlaskSession)
    install_read_only_guard(FlaskSession)
    return ServiceSQLAlchemy(
        metadata=Base.metadata,
        session_options={"class_": FlaskSession, "expire_on_commit": False},
    )
