"""Read-only request sessions: GET, HEAD and OPTIONS requests run in autocommit, and their sessions refuse to write.

Flask-SQLAlchemy opens a transaction for every request and rolls it back at teardown. For a request that only
reads, that is two extra round trips (``BEGIN``, ``ROLLBACK``) and nothing gained: at READ COMMITTED every statement
takes its own snapshot anyway. So a read-only request's session uses its connection in autocommit — and, so that
"uncommitted work is discarded" still holds, the session refuses to flush or to run an INSERT, UPDATE or DELETE:
a read-only request cannot leave anything behind, committed or not.

Both apps mark the session with :data:`READ_ONLY` in ``Session.info`` and bind it to :func:`autocommit`'s engine.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session

READ_ONLY = "read_only"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

E = TypeVar("E")


class ReadOnlySessionError(RuntimeError):
    """A read-only request tried to write: a bug in the handler (the server answers 500)."""


def is_read_only_method(method: str) -> bool:
    """Whether a request of this HTTP method gets a read-only session."""
    return method in READ_ONLY_METHODS


def can_run_again(method: str, exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may be run once more, on a fresh connection, unseen by its client.

    Only a read-only request, and only when the failure was its pooled connection turning out dead (the pre-ping
    window let it through, or the backend went away mid-request): it wrote nothing, so running it again is safe. A
    write is never run twice: it answers 503, and the client decides.
    """
    return is_read_only_method(method) and isinstance(exc, DBAPIError) and exc.connection_invalidated


def autocommit(engine: E) -> E:
    """``engine`` (sync or async) with its connections in autocommit: the binding of a read-only session."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")  # type: ignore[attr-defined, no-any-return]


def _refuse_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if not session.info.get(READ_ONLY):
        return
    if session.new or session.deleted or any(session.is_modified(obj) for obj in session.dirty):
        raise ReadOnlySessionError("a read-only (GET/HEAD) request's session cannot flush changes")


def _refuse_dml(state: ORMExecuteState) -> None:
    if state.session.info.get(READ_ONLY) and (state.is_insert or state.is_update or state.is_delete):
        raise ReadOnlySessionError("a read-only (GET/HEAD) request's session cannot run INSERT/UPDATE/DELETE")


def install_read_only_guard(session_class: type[Session]) -> None:
    """Register the guards on a ``Session`` class (idempotent); they act only on sessions marked read-only."""
    for name, listener in (("before_flush", _refuse_flush), ("do_orm_execute", _refuse_dml)):
        if not event.contains(session_class, name, listener):
            event.listen(session_class, name, listener)
