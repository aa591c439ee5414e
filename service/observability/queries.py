"""Cursor-event timing and per-request query recording (Flask-SQLAlchemy's ``record_queries``, for both apps).

The listeners are plain functions registered on ``async_engine.sync_engine`` and on the twin's engine alike. The
current request's records live in a ``ContextVar``: each Quart request runs in a task of its own (SQLAlchemy's
greenlets run in the task's context) and each WSGI request in a thread, so records never mix.

What is counted: one record and one histogram sample per cursor execution. An ORM ``add_all`` of many rows, or an
``insert(...)`` with a list of parameter sets, runs as "insertmanyvalues" batches (up to 1000 rows each by default):
that is one sample per batch, not per row; a ``COPY`` through the raw driver connection is not seen at all.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import greenlet
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from service.observability.metrics import Metrics

log = logging.getLogger("service.slow_queries")

_KINDS = frozenset({"select", "insert", "update", "delete"})
_START = "query_start_stack"
_COUNTED = "service.checked_out"


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One executed statement, with the fields of Flask-SQLAlchemy's ``_QueryInfo``."""

    statement: str
    parameters: Any
    start_time: float
    end_time: float
    location: str

    @property
    def duration(self) -> float:
        return self.end_time - self.start_time


@dataclass(slots=True)
class RequestQueries:
    records: list[QueryRecord] = field(default_factory=list)
    total_time: float = 0.0
    count: int = 0


_current: ContextVar[RequestQueries | None] = ContextVar("recorded_queries", default=None)


def statement_kind(statement: str) -> str:
    """``select``/``insert``/``update``/``delete``/``other`` from the first keyword (never the SQL itself)."""
    head = statement.lstrip()[:8].split(None, 1)
    word = head[0].lower() if head else ""
    return word if word in _KINDS else ("select" if word == "with" else "other")


_SKIP = ("sqlalchemy", "service.observability", "greenlet", "asyncio", "contextlib", "quart", "flask", "werkzeug")


def _location() -> str:
    """The first frame outside SQLAlchemy and the frameworks: where the application asked for the statement.

    Under asyncio the statement runs in a greenlet SQLAlchemy spawned for it; the application's frames are in the
    greenlet that awaits it (its parent), so the walk continues there.
    """
    current: Any = greenlet.getcurrent()
    frame: FrameType | None = sys._getframe(2)
    while True:
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if not module.startswith(_SKIP):
                return f"{module}:{frame.f_lineno} ({frame.f_code.co_name})"
            frame = frame.f_back
        current = current.parent
        if current is None:
            return "<unknown>"
        frame = current.gr_frame


class QueryEvents:
    """The listeners for one engine, bound to the metrics and the recording settings."""

    def __init__(self, metrics: Metrics, *, record: bool, slow_threshold: float) -> None:
        self.metrics = metrics
        self.record = record
        self.slow_threshold = slow_threshold
        self._histograms = {kind: metrics.query_duration.labels(kind) for kind in (*_KINDS, "other")}

    @classmethod
    def from_config(cls, metrics: Metrics, config: Mapping[str, Any]) -> QueryEvents:
        """Read ``SQLALCHEMY_RECORD_QUERIES`` / ``SQLALCHEMY_SLOW_QUERY_THRESHOLD`` from an app's config."""
        return cls(
            metrics,
            record=config["SQLALCHEMY_RECORD_QUERIES"],
            slow_threshold=config["SQLALCHEMY_SLOW_QUERY_THRESHOLD"],
        )

    def before_cursor_execute(
        self, conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        conn.info.setdefault(_START, []).append(time.perf_counter())

    def after_cursor_execute(
        self, conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        end = time.perf_counter()
        start = conn.info[_START].pop()
        duration = end - start
        self._histograms[statement_kind(statement)].observe(duration)
        if duration >= self.slow_threshold:
            self.metrics.slow_queries.inc()
        queries = _current.get()
        if queries is not None:
            queries.count += 1
            queries.total_time += duration
            if self.record:
                queries.records.append(QueryRecord(statement, parameters, start, end, _location()))

    def on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info[_COUNTED] = True
        self.metrics.pool_checked_out.inc()

    def on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        # SQLAlchemy also checks in a connection whose checkout failed in pre-ping (no "checkout" event fired):
        # only count down what was counted up, or the gauge drifts below zero after a backend kill.
        if record.info.pop(_COUNTED, False):
            self.metrics.pool_checked_out.dec()

    def install(self, engine: Engine) -> None:
        """Register on a sync engine (for an ``AsyncEngine``, pass its ``sync_engine``) and its pool."""
        event.listen(engine, "before_cursor_execute", self.before_cursor_execute)
        event.listen(engine, "after_cursor_execute", self.after_cursor_execute)
        pool: Pool = engine.pool
        event.listen(pool, "checkout", self.on_checkout)
        event.listen(pool, "checkin", self.on_checkin)


def start_request() -> RequestQueries:
    """Begin counting the current request's statements (call first thing in the request)."""
    queries = RequestQueries()
    _current.set(queries)
    return queries


def current_request() -> RequestQueries | None:
    return _current.get()


def get_recorded_queries() -> list[QueryRecord]:
    """The current request's statements (empty unless ``SQLALCHEMY_RECORD_QUERIES`` is on)."""
    queries = _current.get()
    return list(queries.records) if queries is not None else []


def finish_request(queries: RequestQueries, slow_threshold: float) -> dict[str, str]:
    """Log the request's slow statements once each (no parameters: they may hold personal data) and return the
    ``X-Query-*`` headers."""
    for record in queries.records:
        if record.duration >= slow_threshold:
            log.warning("slow query (%.3fs) at %s: %s", record.duration, record.location, record.statement)
    return {"X-Query-Count": str(queries.count), "X-Query-Time-Ms": f"{queries.total_time * 1000:.3f}"}
