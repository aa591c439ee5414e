"""Flask-SQLAlchemy's extension, ported to Quart and SQLAlchemy asyncio.

Lifecycle, as in Flask-SQLAlchemy and quart-db:

* the engine is built in ``before_serving`` and disposed in ``after_serving``: nothing connects at import or at
  ``init_app``;
* ``db.session`` is the current request's :class:`AsyncSession`, created on first use and kept on ``g``, so two
  requests in one event loop never share a session; a GET or HEAD request's session is read-only, in autocommit
  (:mod:`service.db.read_only`);
* the ``async`` teardown closes it: uncommitted work is rolled back, never committed, and the connection returns
  to the pool, also when the request task was cancelled because the client went away.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from quart import Quart, abort, g, has_request_context, request
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from service.db.base import Base
from service.db.engine import make_async_engine
from service.db.read_only import READ_ONLY, autocommit, install_read_only_guard, is_read_only_method
from service.db.soft_delete import install_soft_delete
from service.pagination import DEFAULT_PER_PAGE, MAX_PER_PAGE, Pagination, clamp, page_statements

T = TypeVar("T")

_SESSION_KEY = "_sqlalchemy_session"
log = logging.getLogger(__name__)


class QuartSession(Session):
    """The sync session class behind every request's ``AsyncSession`` (carries the soft-delete hook)."""


class SQLAlchemy:
    """Integrate SQLAlchemy asyncio with a Quart app, with Flask-SQLAlchemy's names and session semantics."""

    def __init__(
        self,
        app: Quart | None = None,
        *,
        metadata: Any = None,
        engine_options: Mapping[str, Any] | None = None,
        session_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata if metadata is not None else Base.metadata
        self._engine_options = dict(engine_options or {})
        self._session_options = dict(session_options or {})
        self._engine: AsyncEngine | None = None
        self._read_only_engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Quart) -> None:
        """Register on ``app``: config defaults, serving hooks and the async teardown."""
        app.extensions["sqlalchemy"] = self
        app.config.setdefault("SQLALCHEMY_DATABASE_URI", os.environ.get("DATABASE_URL"))
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        app.config.setdefault("SQLALCHEMY_AUTOCOMMIT_READS", True)
        install_soft_delete(QuartSession)
        install_read_only_guard(QuartSession)

        async def open_engine() -> None:
            self.open(
                app.config["SQLALCHEMY_DATABASE_URI"],
                app.config["SQLALCHEMY_ENGINE_OPTIONS"],
                autocommit_reads=app.config["SQLALCHEMY_AUTOCOMMIT_READS"],
            )

        app.before_serving(open_engine)
        app.after_serving(self.dispose)
        app.teardown_appcontext(self._teardown_session)

    # -- engine lifecycle ------------------------------------------------------------------------------------

    def open(self, uri: str | None, engine_options: Mapping[str, Any], *, autocommit_reads: bool = True) -> None:
        """Create the engine and the session factory (called from ``before_serving``).

        With ``autocommit_reads`` false, read-only sessions keep the guard but run in a transaction like the others.
        """
        if not uri:
            raise RuntimeError("SQLALCHEMY_DATABASE_URI (or DATABASE_URL) is not set")
        options = {**engine_options, **self._engine_options}
        self._engine = make_async_engine(uri, **options)
        self._read_only_engine = autocommit(self._engine) if autocommit_reads else self._engine
        self._sessionmaker = async_sessionmaker(
            self._engine,
            expire_on_commit=False,
            sync_session_class=QuartSession,
            **self._session_options,
        )

    async def dispose(self) -> None:
        """Close every pooled connection (called from ``after_serving``)."""
        engine, self._engine, self._read_only_engine, self._sessionmaker = self._engine, None, None, None
        if engine is not None:
            await engine.dispose()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the engine exists only while the app is serving (before_serving has not run)")
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._sessionmaker is None:
            raise RuntimeError("the session factory exists only while the app is serving")
        return self._sessionmaker

    # -- the request-scoped session -----------------------------------------------------------------------

    @property
    def session(self) -> AsyncSession:
        """The current app context's session, created on first use; read-only for a GET or HEAD request."""
        session: AsyncSession | None = g.get(_SESSION_KEY)
        if session is None:
            if has_request_context() and is_read_only_method(request.method):
                session = self.sessionmaker(bind=self._read_only_engine, info={READ_ONLY: True})
            else:
                session = self.sessionmaker()
            setattr(g, _SESSION_KEY, session)
        return session

    async def remove_session(self) -> None:
        """Close the current session now (Flask-SQLAlchemy's ``db.session.remove()``); the next use makes a new one.

        Uncommitted work is rolled back and the connection goes back to the pool, as at teardown.
        """
        await self._teardown_session(None)

    async def _teardown_session(self, exc: BaseException | None) -> None:
        session: AsyncSession | None = g.pop(_SESSION_KEY, None)
        if session is None:
            return
        # Shielded: a second cancellation must not abandon the rollback half-way and leave the connection
        # checked out (or "idle in transaction" on the server).
        close = asyncio.ensure_future(session.close())
        try:
            await asyncio.shield(close)
        except asyncio.CancelledError:
            close.add_done_callback(_log_close_failure)
            raise
        except Exception:
            log.warning("closing the request session failed; its connection was invalidated", exc_info=False)
            await _invalidate_quietly(session)

    # -- Flask-SQLAlchemy's query helpers ---------------------------------------------------------------

    async def get_or_404(self, entity: type[T], ident: Any, *, description: str | None = None) -> T:
        """``session.get`` or abort with 404."""
        value = await self.session.get(entity, ident)
        if value is None:
            abort(404, description=description)
        return value

    async def first_or_404(self, statement: Select[Any], *, description: str | None = None) -> Any:
        """The first result of ``statement`` or abort with 404."""
        value = (await self.session.execute(statement)).scalar()
        if value is None:
            abort(404, description=description)
        return value

    async def one_or_404(self, statement: Select[Any], *, description: str | None = None) -> Any:
        """Exactly one result of ``statement``; none or several abort with 404, as in Flask-SQLAlchemy."""
        values = (await self.session.execute(statement.limit(2))).scalars().all()
        if len(values) != 1:
            abort(404, description=description)
        return values[0]

    async def paginate(
        self,
        statement: Select[Any],
        *,
        page: int = 1,
        per_page: int = DEFAULT_PER_PAGE,
        max_per_page: int | None = MAX_PER_PAGE,
        count: bool = True,
    ) -> Pagination[Any]:
        """One page of ``statement``'s scalars; ``page`` and ``per_page`` are clamped like Flask-SQLAlchemy's."""
        page, per_page = clamp(page, per_page, max_per_page)
        items_stmt, count_stmt = page_statements(statement, page, per_page)
        items = (await self.session.execute(items_stmt)).scalars().all()
        total = (await self.session.execute(count_stmt)).scalar_one() if count else len(items)
        return Pagination(items=items, page=page, per_page=per_page, total=total)


def _log_close_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a cancelled request's session failed")


async def _invalidate_quietly(session: AsyncSession) -> None:
    try:
        await session.invalidate()
    except Exception:  # pragma: no cover - nothing more can be done for this connection
        log.warning("invalidating the request session failed")
