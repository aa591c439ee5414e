"""``SQLALCHEMY_TRACK_MODIFICATIONS``: Flask-SQLAlchemy's ``models_committed`` / ``before_models_committed`` signals.

The changes are recorded by the same session events as in Flask-SQLAlchemy (``before_flush``, ``before_commit``)
and the signals are sent from the same points (``before_commit``: before the final flush; ``after_commit``), with the
same payload: sender the app, ``changes=[(instance, "insert" | "update" | "delete"), ...]``. A rolled-back
transaction forgets its changes (``after_rollback``), so ``models_committed`` is never sent for it.

Receivers may be sync or async, as with Quart's own signals: they are awaited with ``send_async`` (a sync one runs
through ``app.ensure_async``). The session events run inside the greenlet of the ``AsyncSession`` call, so the send
is awaited there with SQLAlchemy's ``await_``: the commit waits for the receivers, as Flask-SQLAlchemy's does.

Nothing here is installed unless an app sets ``SQLALCHEMY_TRACK_MODIFICATIONS`` (default false).
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa
import sqlalchemy.event as sa_event
from blinker import NamedSignal, Namespace
from quart import Quart, current_app, has_app_context

from .session import Session

try:
    from sqlalchemy.util import await_
except ImportError:  # pragma: no cover - SQLAlchemy 2.0 names it await_only
    from sqlalchemy.util import await_only as await_  # type: ignore[attr-defined,no-redef,unused-ignore]

_signals = Namespace()

models_committed: NamedSignal = _signals.signal("models-committed")
"""Sent after the session is committed if there were changed models in the session.

The sender is the application that emitted the changes. The receiver is passed the ``changes`` argument with a list
of tuples in the form ``(instance, operation)``. The operations are ``"insert"``, ``"update"``, and ``"delete"``.
"""

before_models_committed: NamedSignal = _signals.signal("before-models-committed")
"""Works exactly like :data:`models_committed` but is sent before the commit takes place."""


_listening: weakref.WeakSet[type[Session]] = weakref.WeakSet()
"""The classes :func:`_listen` has registered on. Not ``event.contains`` (Flask-SQLAlchemy's test): SQLAlchemy's
registry keys a class's listeners by ``id(cls)`` and keeps the key after the class is collected, so a new class
made at that address would look registered and never get its listeners."""


def _listen(session_class: type[Session]) -> None:
    """Register the recording and sending listeners on ``session_class`` (idempotent)."""
    if session_class in _listening:
        return
    for identifier, listener, named in (
        ("before_flush", _record_ops, True),
        ("before_commit", _record_ops, True),
        ("before_commit", _before_commit, False),
        ("after_commit", _after_commit, False),
        ("after_rollback", _after_rollback, False),
    ):
        sa_event.listen(session_class, identifier, listener, named=named)
    _listening.add(session_class)


def _tracking_app() -> Quart | None:
    """The current app when it tracks modifications (the listeners are per class, shared by every app)."""
    if not has_app_context():
        return None
    app: Quart = current_app._get_current_object()  # type: ignore[attr-defined]
    return app if app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] else None


def _record_ops(session: Session, **kwargs: Any) -> None:
    if _tracking_app() is None:
        return

    changes = session.__dict__.setdefault("_model_changes", {})
    for targets, operation in ((session.new, "insert"), (session.dirty, "update"), (session.deleted, "delete")):
        for target in targets:
            state = sa.inspect(target)
            key = state.identity_key if state.has_identity else id(target)
            changes[key] = (target, operation)


def _send(signal: NamedSignal, app: Quart, changes: list[tuple[Any, str]]) -> None:
    if not signal.receivers:
        return  # no switch out of the greenlet for nothing
    await_(signal.send_async(app, _sync_wrapper=app.ensure_async, changes=changes))  # type: ignore[arg-type]


def _before_commit(session: Session) -> None:
    app = _tracking_app()
    if app is None:
        return

    recorded = session.__dict__.get("_model_changes")
    if recorded:
        _send(before_models_committed, app, list(recorded.values()))


def _after_commit(session: Session) -> None:
    app = _tracking_app()
    if app is None:
        return

    recorded = session.__dict__.get("_model_changes")
    if recorded:
        _send(models_committed, app, list(recorded.values()))
        recorded.clear()


def _after_rollback(session: Session) -> None:
    recorded = session.__dict__.get("_model_changes")
    if recorded:
        recorded.clear()
