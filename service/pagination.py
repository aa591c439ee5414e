"""Flask-SQLAlchemy's ``Pagination``, shared by both apps, and the two statements that fill it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Pagination(Generic[T]):
    """One page of results with the attribute names of ``flask_sqlalchemy.pagination.Pagination``."""

    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def clamp(page: int, per_page: int, max_per_page: int | None = MAX_PER_PAGE) -> tuple[int, int]:
    """``page`` at least 1, ``per_page`` between 1 and ``max_per_page`` (Flask-SQLAlchemy's clamp of ``per_page``
    to ``max_per_page``; values below 1 never get here through the API, whose query models refuse them)."""
    page = max(page, 1)
    per_page = max(per_page, 1)
    if max_per_page is not None:
        per_page = min(per_page, max_per_page)
    return page, per_page


def page_statements(stmt: Select[Any], page: int, per_page: int) -> tuple[Select[Any], Select[Any]]:
    """The items statement (offset/limit) and the count statement (ordering dropped) for one page."""
    # A page far past the end is an empty page, not a bigint overflow in the OFFSET.
    items = stmt.limit(per_page).offset(min((page - 1) * per_page, 2**63 - 1))
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    return items, count
