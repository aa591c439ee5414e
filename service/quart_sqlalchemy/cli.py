"""``quart shell`` gets ``db`` and every model class, as ``flask shell`` does with Flask-SQLAlchemy."""

from __future__ import annotations

from typing import Any

from quart import current_app


def add_models_to_shell() -> dict[str, Any]:
    """Registered with ``app.shell_context_processor`` when ``add_models_to_shell`` is on: the ``db`` instance and
    every model class, by class name."""
    db = current_app.extensions["sqlalchemy"]
    out: dict[str, Any] = {m.class_.__name__: m.class_ for m in db.Model._sa_registry.mappers}
    out["db"] = db
    return out
