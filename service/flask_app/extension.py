"""Flask-SQLAlchemy, configured for the shared models: the same metadata, the same soft-delete hook.

Flask-SQLAlchemy's own ``db.session`` is used unchanged: scoped to the app context and removed in its
``teardown_appcontext``, so uncommitted work is rolled back and the connection returns to the pool.
"""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session

from service.db.base import Base
from service.db.soft_delete import install_soft_delete


class FlaskSession(Session):
    """The session class behind ``db.session`` (carries the soft-delete hook, like ``QuartSession``)."""


def make_db() -> SQLAlchemy:
    """A Flask-SQLAlchemy instance on :data:`Base.metadata`; ``init_app`` is the caller's.

    ``expire_on_commit=False`` as on the async side: handlers serialize objects after the use case committed.
    """
    install_soft_delete(FlaskSession)
    return SQLAlchemy(
        metadata=Base.metadata,
        session_options={"class_": FlaskSession, "expire_on_commit": False},
    )
