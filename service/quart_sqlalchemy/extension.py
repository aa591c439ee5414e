"""``SQLAlchemy``: Flask-SQLAlchemy 3.1's extension for Quart and SQLAlchemy asyncio.

The names, arguments, defaults, config keys and errors are Flask-SQLAlchemy's; what does I/O is awaitable. The
differences, each for a reason of asyncio:

* engines (``AsyncEngine``) are created in ``before_serving`` and disposed in ``after_serving`` (or, before the
  app first serves, on first use of :attr:`SQLAlchemy.engines` or the session: a script or a CLI command); nothing
  connects at import or at :meth:`SQLAlchemy.init_app`;
* ``db.session`` is the current app context's ``AsyncSession`` itself (not a ``scoped_session``), created on first
  use and kept on ``g``, so two requests in one event loop never share one; the ``async`` teardown closes it:
  uncommitted work is rolled back, never committed, also when the request task was cancelled. ``await
  db.remove_session()`` is ``db.session.remove()``;
* sessions default to ``expire_on_commit=False``: an expired attribute read after ``commit()`` would be a lazy load,
  which asyncio refuses (``MissingGreenlet``);
* the legacy ``Query`` (``Model.query``, ``db.Query``, ``query_class``, ``lazy="dynamic"``) has no async form.
"""

from __future__ import annotations

import asyncio
import logging
import os
import types
import warnings
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

import sqlalchemy as sa
import sqlalchemy.event as sa_event
import sqlalchemy.exc as sa_exc
import sqlalchemy.orm as sa_orm
from quart import Quart, abort, current_app, g, has_app_context
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_engine_from_config, async_sessionmaker

from . import record_queries, track_modifications
from .cli import add_models_to_shell as _add_models_to_shell
from .model import BindMixin, DefaultMeta, DefaultMetaNoName, Model, NameMixin
from .pagination import Pagination, paginate_select
from .session import Engines, Session

_O = TypeVar("_O", bound=object)
BindKey = str | None

_SESSION_KEY = "_sqlalchemy_session"
log = logging.getLogger(__name__)


class _QuartModel(Model):
    metadata: sa.MetaData


class AppState:
    """One app's engines: their options (read by ``init_app``) and, while they exist, the engines themselves."""

    def __init__(self, options: dict[BindKey, dict[str, Any]], record_queries: bool) -> None:
        self.options = options
        self.record_queries = record_queries
        self.engines: dict[BindKey, AsyncEngine] | None = None
        self.sync_engines: Engines = {}
        self.shut_down = False
        """``after_serving`` ran (and no ``before_serving`` since): no engine is made any more."""


def _get_2x_declarative_bases(model_class: Any) -> list[type[Any]]:
    return [b for b in model_class.__bases__ if issubclass(b, (sa_orm.DeclarativeBase, sa_orm.DeclarativeBaseNoMeta))]


class _Table(sa.Table):
    """``sa.Table`` whose ``metadata`` argument may be replaced by ``bind_key=`` (see :attr:`SQLAlchemy.Table`)."""


class SQLAlchemy:
    """Integrates SQLAlchemy asyncio with Quart, as Flask-SQLAlchemy does with Flask: one or more engines, tables
    and models bound to them, and a session per app context closed at its teardown.

    Only the engine configuration is specific to each application; the models, tables, metadata and session
    options are shared by every app using the extension instance. Call :meth:`init_app` to configure it on an app.

    Names of ``sqlalchemy`` and ``sqlalchemy.orm`` are available as attributes (``db.Column``, ``db.select``,
    ``db.relationship`` ...).

    :param app: Call :meth:`init_app` on this Quart application now.
    :param metadata: Use this as the default ``MetaData`` (a naming convention, say). Ignored, with a
        ``DeprecationWarning``, when ``model_class`` is a SQLAlchemy 2.x declarative base: set it on that class.
    :param session_options: Arguments of every session (``sqlalchemy.ext.asyncio.async_sessionmaker``'s).
        ``class_`` is the *sync* session class, a subclass of :class:`.Session` (the ``AsyncSession`` runs on it);
        ``expire_on_commit`` defaults to ``False``. ``scopefunc`` and ``query_cls`` are refused (``TypeError``).
    :param query_class: Only ``None``: the legacy ``Query`` has no async form (``TypeError`` otherwise).
    :param model_class: The base class of :attr:`Model`: a subclass of :class:`.Model`, an already created
        declarative class, or a SQLAlchemy 2.x ``DeclarativeBase`` / ``DeclarativeBaseNoMeta`` subclass.
    :param engine_options: Default arguments of every engine, below the app's config.
    :param add_models_to_shell: Add ``db`` and every model class to ``quart shell``.
    :param disable_autonaming: Do not generate ``__tablename__`` from the class name.
    """

    def __init__(
        self,
        app: Quart | None = None,
        *,
        metadata: sa.MetaData | None = None,
        session_options: dict[str, Any] | None = None,
        query_class: None = None,
        model_class: Any = Model,
        engine_options: dict[str, Any] | None = None,
        add_models_to_shell: bool = True,
        disable_autonaming: bool = False,
    ) -> None:
        if query_class is not None:
            raise TypeError(
                "query_class: the legacy Query has no async form; use "
                "'await db.session.execute(select(...))' (and db.paginate / db.get_or_404)"
            )

        self.metadatas: dict[BindKey, sa.MetaData] = {}
        """Bind key -> ``MetaData``; ``None`` is the default one (:attr:`metadata`). Metadata for another bind
        key copies the default's naming convention."""

        if metadata is not None:
            if _get_2x_declarative_bases(model_class):
                warnings.warn(
                    "When using SQLAlchemy 2.x style of declarative classes,"
                    " the `metadata` should be an attribute of the base class."
                    "The metadata passed into SQLAlchemy() is ignored.",
                    DeprecationWarning,
                    stacklevel=2,
                )
            else:
                metadata.info["bind_key"] = None
                self.metadatas[None] = metadata

        self.Table = self._make_table_class()
        """A ``Table`` class that chooses its metadata by ``bind_key=`` (the default metadata without one) when no
        ``MetaData`` is given."""

        self.Model = self._make_declarative_base(model_class, disable_autonaming=disable_autonaming)
        """The declarative model class: subclass it to define models. ``__tablename__`` defaults to the class
        name in ``snake_case`` (not for single-table inheritance); ``__bind_key__`` chooses the metadata and the
        engine."""

        self._engine_options = dict(engine_options or {})
        self._app_state: WeakKeyDictionary[Quart, AppState] = WeakKeyDictionary()
        self._add_models_to_shell = add_models_to_shell
        self._session_class: type[Session] = Session
        self._session_factory = self._make_session_factory(dict(session_options or {}))

        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        if not has_app_context():
            return f"<{type(self).__name__}>"

        options = self._get_state(current_app._get_current_object(), create=False).options  # type: ignore[attr-defined]
        message = type(self).__name__
        if None in options:
            message = f"{message} {sa.engine.make_url(options[None]['url'])}"
        if len(options) > 1:
            message = f"{message} +{len(options) - 1}"
        return f"<{message}>"

    # -- setup ---------------------------------------------------------------------------------------------

    def init_app(self, app: Quart) -> None:
        """Register on ``app``: read its config, create the metadata of each bind key, and install the serving
        hooks (engines) and the teardown (session). Config changes after this call are not seen.

        Keys: ``SQLALCHEMY_DATABASE_URI``, ``SQLALCHEMY_ENGINE_OPTIONS``, ``SQLALCHEMY_ECHO``, ``SQLALCHEMY_BINDS``,
        ``SQLALCHEMY_RECORD_QUERIES``, ``SQLALCHEMY_TRACK_MODIFICATIONS``, with Flask-SQLAlchemy's defaults.
        """
        if "sqlalchemy" in app.extensions:
            raise RuntimeError(
                "A 'SQLAlchemy' instance has already been registered on this Quart app."
                " Import and use that instance instead."
            )

        app.extensions["sqlalchemy"] = self
        app.teardown_appcontext(self._teardown_session)

        if self._add_models_to_shell:
            app.shell_context_processor(_add_models_to_shell)

        basic_uri: str | sa.engine.URL | None = app.config.setdefault("SQLALCHEMY_DATABASE_URI", None)
        basic_engine_options = self._engine_options.copy()
        basic_engine_options.update(app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {}))
        echo: bool = app.config.setdefault("SQLALCHEMY_ECHO", False)
        config_binds: dict[BindKey, str | sa.engine.URL | dict[str, Any]] = app.config.setdefault(
            "SQLALCHEMY_BINDS", {}
        )
        engine_options: dict[BindKey, dict[str, Any]] = {}

        for key, value in config_binds.items():
            engine_options[key] = self._engine_options.copy()
            if isinstance(value, str | sa.engine.URL):
                engine_options[key]["url"] = value
            else:
                engine_options[key].update(value)

        if basic_uri is not None:
            basic_engine_options["url"] = basic_uri

        if "url" in basic_engine_options:
            engine_options.setdefault(None, {}).update(basic_engine_options)

        if not engine_options:
            raise RuntimeError("Either 'SQLALCHEMY_DATABASE_URI' or 'SQLALCHEMY_BINDS' must be set.")

        for key, options in engine_options.items():
            self._make_metadata(key)
            options.setdefault("echo", echo)
            options.setdefault("echo_pool", echo)
            self._apply_driver_defaults(options, app)

        record = bool(app.config.setdefault("SQLALCHEMY_RECORD_QUERIES", False))
        self._app_state[app] = self._make_app_state(engine_options, record_queries=record)

        if app.config.setdefault("SQLALCHEMY_TRACK_MODIFICATIONS", False):
            track_modifications._listen(self._session_class)

        app.before_serving(self._open_engines)
        app.after_serving(self._dispose_engines)

    def _make_app_state(self, options: dict[BindKey, dict[str, Any]], *, record_queries: bool) -> AppState:
        """The record of one app's engines (override to keep more per app).

        :meta private:
        """
        return AppState(options, record_queries)

    def _make_session_factory(self, options: dict[str, Any]) -> async_sessionmaker[AsyncSession]:
        """The factory of every session: an ``AsyncSession`` running on ``options["class_"]`` (:class:`.Session`).

        :meta private:
        """
        for refused, why in (
            ("scopefunc", "db.session is scoped to the app context (kept on g)"),
            ("query_cls", "the legacy Query has no async form"),
        ):
            if refused in options:
                raise TypeError(f"session_options[{refused!r}]: {why}")
        session_class = options.pop("class_", Session)
        if not (isinstance(session_class, type) and issubclass(session_class, Session)):
            raise TypeError("session_options['class_'] must be a subclass of quart_sqlalchemy.Session")
        self._session_class = session_class
        options.setdefault("expire_on_commit", False)
        return async_sessionmaker(sync_session_class=session_class, db=self, **options)

    def _make_metadata(self, bind_key: BindKey) -> sa.MetaData:
        """Get or create the ``MetaData`` of ``bind_key`` (its ``info["bind_key"]`` is what the session reads).

        :meta private:
        """
        if bind_key in self.metadatas:
            return self.metadatas[bind_key]

        # Another bind copies the default metadata's naming convention.
        naming_convention = self._make_metadata(None).naming_convention if bind_key is not None else None
        metadata = sa.MetaData(naming_convention=naming_convention, info={"bind_key": bind_key})
        self.metadatas[bind_key] = metadata
        return metadata

    def _make_table_class(self) -> type[_Table]:
        """:attr:`Table`: a ``Table`` choosing its metadata by ``bind_key``.

        :meta private:
        """
        make_metadata = self._make_metadata

        class Table(_Table):
            def __new__(cls, *args: Any, bind_key: BindKey = None, **kwargs: Any) -> Table:
                # With a metadata argument (or no argument, for the right error), the base Table as is.
                if not args or (len(args) >= 2 and isinstance(args[1], sa.MetaData)):
                    return super().__new__(cls, *args, **kwargs)

                metadata = make_metadata(bind_key)
                return super().__new__(cls, *[args[0], metadata, *args[1:]], **kwargs)

        return Table

    def _make_declarative_base(self, model_class: Any, disable_autonaming: bool = False) -> type[_QuartModel]:
        """:attr:`Model`, from a :class:`.Model` subclass, a declarative class, or a 2.x declarative base.

        :meta private:
        """
        model: type[_QuartModel]
        declarative_bases = _get_2x_declarative_bases(model_class)
        if len(declarative_bases) > 1:
            raise ValueError(f"Only one declarative base can be passed to SQLAlchemy. Got: {model_class.__bases__}")
        if len(declarative_bases) == 1:
            body = dict(model_class.__dict__)
            body["__fsa__"] = self
            mixin_classes: list[type[Any]] = [BindMixin, NameMixin, Model]
            if disable_autonaming:
                mixin_classes.remove(NameMixin)
            model = types.new_class(
                "QuartSQLAlchemyBase",
                (*mixin_classes, *model_class.__bases__),
                {"metaclass": type(declarative_bases[0])},
                lambda ns: ns.update(body),
            )
        elif not isinstance(model_class, sa_orm.DeclarativeMeta):
            metadata = self._make_metadata(None)
            metaclass = DefaultMetaNoName if disable_autonaming else DefaultMeta
            model = sa_orm.declarative_base(metadata=metadata, cls=model_class, name="Model", metaclass=metaclass)
        else:
            model = cast(type[_QuartModel], model_class)

        if None not in self.metadatas:
            # The model's metadata becomes the default metadata.
            model.metadata.info["bind_key"] = None
            self.metadatas[None] = model.metadata
        else:
            # The given default metadata becomes the model's.
            model.metadata = self.metadatas[None]

        model.__fsa__ = self
        return model

    def _apply_driver_defaults(self, options: dict[str, Any], app: Quart) -> None:
        """Flask-SQLAlchemy's driver defaults: an in-memory SQLite database gets a ``StaticPool`` (one connection,
        shared across threads); a relative SQLite path is under ``app.instance_path`` (created); MySQL gets
        ``charset=utf8mb4`` and, with a queue pool, ``pool_recycle=7200``. Async drivers (``sqlite+aiosqlite``,
        ``mysql+aiomysql``) too.

        :meta private:
        """
        url = sa.engine.make_url(options["url"])

        if url.drivername == "sqlite" or url.drivername.startswith("sqlite+"):
            if url.database is None or url.database in {"", ":memory:"}:
                options["poolclass"] = sa.pool.StaticPool
                if "connect_args" not in options:
                    options["connect_args"] = {}
                options["connect_args"]["check_same_thread"] = False
            else:
                # the url might look like sqlite:///file:path?uri=true
                is_uri = url.query.get("uri", False)
                db_str = url.database[5:] if is_uri else url.database

                if not os.path.isabs(db_str):
                    os.makedirs(app.instance_path, exist_ok=True)
                    db_str = os.path.join(app.instance_path, db_str)
                    if is_uri:
                        db_str = f"file:{db_str}"
                    options["url"] = url.set(database=db_str)
        elif url.drivername.startswith("mysql"):
            # Flask-SQLAlchemy's check, kept as is (it reads "pool_class", not "poolclass").
            if "pool_class" not in options or options["pool_class"] is sa.pool.QueuePool:
                options.setdefault("pool_recycle", 7200)
            if "charset" not in url.query:
                options["url"] = url.update_query_dict({"charset": "utf8mb4"})

    def _make_engine(self, bind_key: BindKey, options: dict[str, Any], app: Quart) -> AsyncEngine:
        """Create the ``AsyncEngine`` of ``bind_key`` for ``app`` (override to build it another way).

        ``options`` is a copy of the bind's options, ``url`` included, with config-style values coerced as
        Flask-SQLAlchemy's ``engine_from_config`` does.

        :meta private:
        """
        return async_engine_from_config(options, prefix="")

    def _listen_record_queries(self, engine: AsyncEngine) -> None:
        """Install the ``SQLALCHEMY_RECORD_QUERIES`` recorder on one engine (override to record another way).

        :meta private:
        """
        record_queries._listen(engine.sync_engine)

    # -- engines -------------------------------------------------------------------------------------------

    async def _open_engines(self) -> None:
        app: Quart = current_app._get_current_object()  # type: ignore[attr-defined]
        state = self._get_state(app, create=False)
        state.shut_down = False
        self._get_state(app)

    async def _dispose_engines(self) -> None:
        state = self._get_state(current_app._get_current_object(), create=False)  # type: ignore[attr-defined]
        # Until the next before_serving, a late use (a task outliving the app) fails instead of opening a pool that
        # nobody would close.
        state.shut_down = True
        engines, state.engines, state.sync_engines = state.engines, None, {}
        for engine in (engines or {}).values():
            await engine.dispose()

    def _get_state(self, app: Quart, *, create: bool = True) -> AppState:
        """``app``'s engines, created first if they do not exist yet (and ``create``)."""
        state = self._app_state.get(app)
        if state is None:
            raise RuntimeError(
                "The current Quart app is not registered with this 'SQLAlchemy'"
                " instance. Did you forget to call 'init_app', or did you create"
                " multiple 'SQLAlchemy' instances?"
            )
        if state.engines is None and create:
            if state.shut_down:
                raise RuntimeError("the app has stopped serving (after_serving ran): its engines are disposed")
            self._create_engines(app, state)
        return state

    def _create_engines(self, app: Quart, state: AppState) -> None:
        """Create ``app``'s engines (no connection is opened here).

        :meta private:
        """
        engines = {key: self._make_engine(key, dict(options), app) for key, options in state.options.items()}
        if state.record_queries:
            for engine in engines.values():
                self._listen_record_queries(engine)
        state.engines = engines
        state.sync_engines = {key: engine.sync_engine for key, engine in engines.items()}

    def _current_app(self) -> Quart:
        """The current app; outside an app context, the only app registered (a test fixture, an ASGI wrapper)."""
        if has_app_context():
            return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]
        apps = list(self._app_state.keys())
        if len(apps) == 1:
            return apps[0]
        raise RuntimeError("Working outside of application context (and this 'SQLAlchemy' has several apps).")

    @property
    def metadata(self) -> sa.MetaData:
        """The default metadata, used by :attr:`Model` and :attr:`Table` without a bind key."""
        return self.metadatas[None]

    @property
    def engines(self) -> Mapping[BindKey, AsyncEngine]:
        """Bind key -> ``AsyncEngine`` for the current app; ``None`` is the default engine (:attr:`engine`).

        Outside an app context, the engines of the only app registered.
        """
        state = self._get_state(self._current_app())
        return cast(dict[BindKey, AsyncEngine], state.engines)

    @property
    def engine(self) -> AsyncEngine:
        """The default ``AsyncEngine`` of the current app."""
        return self.engines[None]

    def get_engine(self, bind_key: BindKey = None, **kwargs: Any) -> AsyncEngine:
        """The engine of ``bind_key`` for the current app.

        .. deprecated:: 3.0 (Flask-SQLAlchemy) Use ``engines[key]`` instead.
        """
        warnings.warn(
            "'get_engine' is deprecated and will be removed in Flask-SQLAlchemy"
            " 3.2. Use 'engine' or 'engines[key]' instead. If you're using"
            " Flask-Migrate or Alembic, you'll need to update your 'env.py' file.",
            DeprecationWarning,
            stacklevel=2,
        )
        if "bind" in kwargs:
            bind_key = kwargs.pop("bind")
        return self.engines[bind_key]

    # -- the app context's session -------------------------------------------------------------------------

    @property
    def session(self) -> AsyncSession:
        """The current app context's ``AsyncSession``, created on first use and closed at the context's teardown."""
        session: AsyncSession | None = g.get(_SESSION_KEY)
        if session is None:
            app: Quart = current_app._get_current_object()  # type: ignore[attr-defined]
            state = self._app_state.get(app)
            if state is None or state.engines is None:  # (the common case costs no call)
                state = self._get_state(app)
            session = self._make_session(state)
            setattr(g, _SESSION_KEY, session)
        return session

    def _make_session(self, state: AppState) -> AsyncSession:
        """A new session on the app's engines (override to choose other engines or options per request).

        :meta private:
        """
        return self._session_factory(engines=state.sync_engines)

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

    # -- query helpers -------------------------------------------------------------------------------------

    async def get_or_404(self, entity: type[_O], ident: Any, *, description: str | None = None, **kwargs: Any) -> _O:
        """``await db.session.get(entity, ident, **kwargs)``, or abort with ``404 Not Found`` (``description`` is
        the error's message)."""
        value = await self.session.get(entity, ident, **kwargs)
        if value is None:
            abort(404, description=description)
        return value

    async def first_or_404(self, statement: sa.Select[Any], *, description: str | None = None) -> Any:
        """``Result.scalar()`` of ``statement``, or abort with ``404 Not Found`` when it is ``None``."""
        value = (await self.session.execute(statement)).scalar()
        if value is None:
            abort(404, description=description)
        return value

    async def one_or_404(self, statement: sa.Select[Any], *, description: str | None = None) -> Any:
        """``Result.scalar_one()`` of ``statement``; no row or several rows abort with ``404 Not Found``."""
        try:
            return (await self.session.execute(statement)).scalar_one()
        except (sa_exc.NoResultFound, sa_exc.MultipleResultsFound):
            abort(404, description=description)

    async def paginate(
        self,
        select: sa.Select[Any],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = None,
        error_out: bool = True,
        count: bool = True,
    ) -> Pagination[Any]:
        """One page of ``select``'s results (``unique().scalars()``), as Flask-SQLAlchemy's ``db.paginate``.

        ``page`` / ``per_page`` default to the request's ``page`` / ``per_page`` query args (else 1 and 20);
        ``max_per_page`` limits ``per_page`` (``None``: no limit); ``error_out`` aborts with 404 for a
        non-integer or < 1 value, or a page past 1 without items; ``count=False`` skips the count query
        (``total`` is then ``None``).
        """
        return await paginate_select(
            self.session,
            select,
            page=page,
            per_page=per_page,
            max_per_page=max_per_page,
            error_out=error_out,
            count=count,
        )

    # -- create_all / drop_all / reflect -------------------------------------------------------------------

    async def _call_for_binds(self, bind_key: BindKey | list[BindKey], op_name: str) -> None:
        """Call ``MetaData.<op_name>`` on each bind's metadata, in a transaction on its engine.

        :meta private:
        """
        if bind_key == "__all__":
            keys: list[BindKey] = list(self.metadatas)
        elif bind_key is None or isinstance(bind_key, str):
            keys = [bind_key]
        else:
            keys = bind_key

        engines = self.engines
        for key in keys:
            try:
                engine = engines[key]
            except KeyError:
                message = f"Bind key '{key}' is not in 'SQLALCHEMY_BINDS' config."
                if key is None:
                    message = f"'SQLALCHEMY_DATABASE_URI' config is not set. {message}"
                raise sa_exc.UnboundExecutionError(message) from None

            metadata = self.metadatas[key]
            async with engine.begin() as connection:
                await connection.run_sync(getattr(metadata, op_name))

    async def create_all(self, bind_key: BindKey | list[BindKey] = "__all__") -> None:
        """Create the tables that do not exist (``MetaData.create_all``) for all binds, one, or a list of them."""
        await self._call_for_binds(bind_key, "create_all")

    async def drop_all(self, bind_key: BindKey | list[BindKey] = "__all__") -> None:
        """Drop the tables (``MetaData.drop_all``) for all binds, one, or a list of them."""
        await self._call_for_binds(bind_key, "drop_all")

    async def reflect(self, bind_key: BindKey | list[BindKey] = "__all__") -> None:
        """Load table definitions from the database (``MetaData.reflect``) for all binds, one, or a list."""
        await self._call_for_binds(bind_key, "reflect")

    # -- sqlalchemy names ----------------------------------------------------------------------------------

    def relationship(self, *args: Any, **kwargs: Any) -> sa_orm.RelationshipProperty[Any]:
        """``sqlalchemy.orm.relationship`` (no ``query_class`` is set: there is no legacy ``Query`` here)."""
        return sa_orm.relationship(*args, **kwargs)

    def dynamic_loader(self, argument: Any, **kwargs: Any) -> sa_orm.RelationshipProperty[Any]:
        """Refused: a dynamic relationship is a legacy sync ``Query``, which asyncio cannot load.

        Use ``db.relationship(..., lazy="write_only")`` (a ``WriteOnlyMapped`` attribute, whose ``select()`` you
        execute with ``await db.session.scalars(...)``).
        """
        raise TypeError(
            "dynamic_loader has no async form (a dynamic relationship is a sync Query);"
            ' use db.relationship(..., lazy="write_only") and await db.session.scalars(parent.children.select())'
        )

    def __getattr__(self, name: str) -> Any:
        if name == "relation":
            return self.relationship
        if name == "event":
            return sa_event
        if name == "Query":
            raise AttributeError("db.Query: the legacy Query has no async form; use db.session.execute(select(...))")
        if name.startswith("_"):
            raise AttributeError(name)
        for module in (sa, sa_orm):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


def _log_close_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a cancelled request's session failed")


async def _invalidate_quietly(session: AsyncSession) -> None:
    try:
        await session.invalidate()
    except Exception:  # pragma: no cover - nothing more can be done for this connection
        log.warning("invalidating the request session failed")
