"""The sync ``Session`` class behind every ``db.session`` (an ``AsyncSession``): Flask-SQLAlchemy's bind selection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
import sqlalchemy.orm as sa_orm

if TYPE_CHECKING:
    from .extension import SQLAlchemy

Engines = Mapping[str | None, sa.engine.Engine]
"""Bind key -> sync engine (an ``AsyncEngine``'s ``sync_engine``); ``None`` is the default bind."""


class Session(sa_orm.Session):
    """A SQLAlchemy ``Session`` that chooses its engine from the bind key of the metadata of the model or table
    being queried, as Flask-SQLAlchemy's ``Session`` does; the ``AsyncSession`` of ``db.session`` runs on it.

    To customize, subclass it and pass the subclass as the ``class_`` key of ``session_options``.

    ``engines`` is the app's mapping of bind keys to engines, given when the extension creates the session (Flask-
    SQLAlchemy looks it up on the current app at every statement). A session created without it (bound to a
    connection by hand, say) behaves as a plain ``Session``.
    """

    _model_changes: dict[object, tuple[Any, str]]
    """Changes recorded for ``SQLALCHEMY_TRACK_MODIFICATIONS`` (set only when tracking is on)."""

    def __init__(self, db: SQLAlchemy | None = None, engines: Engines | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._db = db
        self._engines = engines
        # The common case, one database: every statement goes to it without looking at the mapper. Only when no
        # other bind key exists at all, so a table of an unconfigured bind key still fails as in Flask-SQLAlchemy.
        self._only_engine = (
            engines.get(None)
            if engines is not None and len(engines) == 1 and db is not None and len(db.metadatas) == 1
            else None
        )

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: sa.engine.Engine | sa.engine.Connection | None = None,
        **kwargs: Any,
    ) -> sa.engine.Engine | sa.engine.Connection:
        """The engine of the ``bind_key`` of the metadata of the model or table being queried; the default engine
        when there is none. An unknown bind key raises ``UnboundExecutionError``, as in Flask-SQLAlchemy."""
        if bind is not None:
            return bind
        if self._only_engine is not None:
            return self._only_engine

        engines = self._engines
        if engines is None:
            return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

        if mapper is not None:
            try:
                mapper = sa.inspect(mapper)
            except sa_exc.NoInspectionAvailable as e:
                if isinstance(mapper, type):
                    raise sa_orm.exc.UnmappedClassError(mapper) from e
                raise

            engine = _clause_to_engine(mapper.local_table, engines)
            if engine is not None:
                return engine

        if clause is not None:
            engine = _clause_to_engine(clause, engines)
            if engine is not None:
                return engine

        if None in engines:
            return engines[None]

        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def _clause_to_engine(clause: Any, engines: Engines) -> sa.engine.Engine | None:
    """If the clause is a table (or a DML statement on one), the engine of its metadata's bind key."""
    table = None

    if clause is not None:
        if isinstance(clause, sa.Table):
            table = clause
        elif isinstance(clause, sa.UpdateBase) and isinstance(clause.table, sa.Table):
            table = clause.table

    if table is not None and "bind_key" in table.metadata.info:
        key = table.metadata.info["bind_key"]

        if key not in engines:
            raise sa_exc.UnboundExecutionError(f"Bind key '{key}' is not in 'SQLALCHEMY_BINDS' config.")

        return engines[key]

    return None
