"""Flask-SQLAlchemy, configured for the shared models: the same metadata, the same soft-delete hook.

Flask-SQLAlchemy's own ``db.session`` is used unchanged: scoped to the app context and removed in its
``teardown_appcontext``, so uncommitted work is rolled back and the connection returns to the pool.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session

from service.db.base import Base
from service.db.soft_delete import install_soft_delete


class FlaskSession(Session):
    """The session class behind ``db.session`` (carries the soft-delete hook, like ``QuartSession``)."""


class ServiceSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy, building its engine with ``create_engine`` and the options as given.

    Its ``engine_from_config`` coerces ``pool_timeout`` to an int: ``DB_POOL_TIMEOUT=0.5`` became 0 on the twin,
    so a pool wait failed at once where the async app waited half a second.
    """

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> sa.engine.Engine:
        options = dict(options)
        return sa.create_engine(options.pop("url"), **options)


def make_db() -> SQLAlchemy:
    """A Flask-SQLAlchemy instance on :data:`Base.metadata`; ``init_app`` is the caller's.

    ``expire_on_commit=False`` as on the async side: handlers serialize objects after the use case committed.
    """
    install_soft_delete(FlaskSession)
    return ServiceSQLAlchemy(
        metadata=Base.metadata,
        session_options={"class_": FlaskSession, "expire_on_commit": False},
    )
