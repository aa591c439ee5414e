"""``SQLALCHEMY_RECORD_QUERIES``: Flask-SQLAlchemy's ``get_recorded_queries()``, for SQLAlchemy asyncio.

Cursor events fire in the greenlet SQLAlchemy runs each statement in; it shares the request task's context, so
``g`` is the request's. The application's frames are in the greenlet awaiting the statement (its parent): the
search for ``location`` goes on there.
"""

from __future__ import annotations

import dataclasses
import inspect
from time import perf_counter
from types import FrameType
from typing import Any

import greenlet
import sqlalchemy as sa
import sqlalchemy.event as sa_event
from quart import current_app, g, has_app_context

_QUERIES = "_sqlalchemy_queries"
_START = "_fsa_start_time"
# This package's own frames (get_or_404, paginate, ...) are never the location, even when it lives inside the
# application's package.
_OWN_PACKAGE = f"{__package__}."


def get_recorded_queries() -> list[_QueryInfo]:
    """The queries recorded in the current app context (request), when ``SQLALCHEMY_RECORD_QUERIES`` is on.

    Each query info object has the attributes ``statement`` (the SQL with parameter placeholders), ``parameters``,
    ``start_time`` / ``end_time`` (``time.perf_counter()`` values), ``duration`` (seconds) and ``location`` (where
    in the application's code the query was executed, ``"<unknown>"`` if it cannot be found; the format is not
    stable).
    """
    return g.get(_QUERIES, [])  # type: ignore[no-any-return]


@dataclasses.dataclass
class _QueryInfo:
    """Information about an executed query, as Flask-SQLAlchemy's. Returned by :func:`get_recorded_queries`."""

    statement: str | None
    parameters: Any
    start_time: float
    end_time: float
    location: str

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


def _listen(engine: sa.engine.Engine) -> None:
    """Register the recorder on a sync engine (an ``AsyncEngine``'s ``sync_engine``)."""
    sa_event.listen(engine, "before_cursor_execute", _record_start, named=True)
    sa_event.listen(engine, "after_cursor_execute", _record_end, named=True)


def _record_start(context: sa.engine.ExecutionContext, **kwargs: Any) -> None:
    if not has_app_context():
        return

    setattr(context, _START, perf_counter())


def _record_end(context: sa.engine.ExecutionContext, **kwargs: Any) -> None:
    if not has_app_context():
        return

    end = perf_counter()
    queries = g.get(_QUERIES)
    if queries is None:
        queries = []
        setattr(g, _QUERIES, queries)

    queries.append(
        _QueryInfo(
            statement=context.statement,
            parameters=context.parameters,
            start_time=getattr(context, _START),
            end_time=end,
            location=_location(current_app.import_name.partition(".")[0]),
        )
    )


def _location(import_top: str) -> str:
    """The first frame of the application's package, in this greenlet or the ones awaiting it."""
    import_dot = f"{import_top}."
    current: Any = greenlet.getcurrent()
    frame: FrameType | None = inspect.currentframe()

    while True:
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and (name == import_top or name.startswith(import_dot)) and not name.startswith(_OWN_PACKAGE):
                code = frame.f_code
                return f"{code.co_filename}:{frame.f_lineno} ({code.co_name})"
            frame = frame.f_back
        current = current.parent
        if current is None:
            return "<unknown>"
        frame = current.gr_frame
