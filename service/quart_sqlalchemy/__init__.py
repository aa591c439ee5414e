"""Flask-SQLAlchemy 3.1 for Quart and SQLAlchemy asyncio: the same names, awaitable where they do I/O.

A self-contained package: it imports nothing from the application around it (quart, sqlalchemy, blinker, greenlet
and werkzeug only), so moving it into another Quart app is a copy of this directory. What differs from
Flask-SQLAlchemy, and why, is in :mod:`.extension`'s docstring and the README's "Flask-SQLAlchemy on Quart".
"""

from __future__ import annotations

from .extension import SQLAlchemy
from .model import Model
from .pagination import Pagination, SelectPagination
from .record_queries import get_recorded_queries
from .session import Session
from .track_modifications import before_models_committed, models_committed

__all__ = [
    "Model",
    "Pagination",
    "SQLAlchemy",
    "SelectPagination",
    "Session",
    "before_models_committed",
    "get_recorded_queries",
    "models_committed",
]
