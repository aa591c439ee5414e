"""The contract's paging limits. The ``Pagination`` class, ``clamp`` and ``page_statements`` are the extension's
(:mod:`service.quart_sqlalchemy.pagination`): re-exported here so that the project has one ``Pagination`` class."""

from __future__ import annotations

from service.quart_sqlalchemy.pagination import Pagination, clamp, page_statements

__all__ = ["DEFAULT_PER_PAGE", "MAX_PER_PAGE", "Pagination", "clamp", "page_statements"]

DEFAULT_PER_PAGE = 20
"""The contract's ``per_page`` when the query string has none (Flask-SQLAlchemy's default)."""

MAX_PER_PAGE = 100
"""The contract's largest ``per_page`` (Flask-SQLAlchemy's ``Pagination`` default ``max_per_page``)."""
