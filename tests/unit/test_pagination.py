"""Pagination against flask_sqlalchemy's own Pagination; clamp; the two statements page_statements builds."""

from __future__ import annotations

from typing import Any

import pytest
from flask_sqlalchemy.pagination import Pagination as FlaskPagination
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from service.db.models import User
from service.pagination import MAX_PER_PAGE
from service.quart_sqlalchemy.pagination import Pagination, clamp, page_statements


class ListPagination(FlaskPagination):
    """Flask-SQLAlchemy's Pagination over a list of ``total`` numbers (its two query hooks are all it needs)."""

    def _query_items(self) -> list[Any]:
        rows = list(range(self._query_args["total"]))
        return rows[self._query_offset : self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return int(self._query_args["total"])


FIELDS = ["page", "per_page", "total", "pages", "has_prev", "prev_num", "has_next", "next_num"]

CASES = [
    (1, 20, 0),  # nothing at all
    (1, 10, 30),  # exact multiple, first page
    (3, 10, 30),  # exact multiple, last page
    (2, 10, 25),  # remainder, middle page
    (3, 10, 25),  # remainder, short last page
    (1, 1, 1),
    (7, 10, 25),  # past the last page
    (2, 20, 0),  # past the last page of nothing
    (1, 100, 101),
]


@pytest.mark.parametrize(("page", "per_page", "total"), CASES)
def test_fields_match_flask_sqlalchemy(page: int, per_page: int, total: int) -> None:
    theirs = ListPagination(page=page, per_page=per_page, error_out=False, total=total)
    ours = Pagination(items=theirs.items, page=page, per_page=per_page, total=total)

    assert {f: getattr(ours, f) for f in FIELDS} == {f: getattr(theirs, f) for f in FIELDS}


@pytest.mark.parametrize(
    ("page", "per_page", "total", "pages", "prev_num", "next_num"),
    [
        (1, 20, 0, 0, None, None),
        (2, 10, 30, 3, 1, 3),
        (3, 10, 30, 3, 2, None),
        (3, 10, 25, 3, 2, None),
        (5, 10, 25, 3, 4, None),
    ],
)
def test_fields_by_hand(page: int, per_page: int, total: int, pages: int, prev_num: int, next_num: int) -> None:
    p = Pagination(items=[], page=page, per_page=per_page, total=total)

    assert (p.pages, p.prev_num, p.next_num) == (pages, prev_num, next_num)
    assert p.has_prev is (prev_num is not None)
    assert p.has_next is (next_num is not None)


@pytest.mark.parametrize(
    ("page", "per_page", "max_per_page", "expected"),
    [
        (1, 20, MAX_PER_PAGE, (1, 20)),
        (0, 20, MAX_PER_PAGE, (1, 20)),
        (-5, 20, MAX_PER_PAGE, (1, 20)),
        (4, 101, MAX_PER_PAGE, (4, 100)),
        (4, 500, 50, (4, 50)),
        (4, 500, None, (4, 500)),
        (2, 0, MAX_PER_PAGE, (2, 1)),
        (2, -3, MAX_PER_PAGE, (2, 1)),
    ],
)
def test_clamp(page: int, per_page: int, max_per_page: int | None, expected: tuple[int, int]) -> None:
    assert clamp(page, per_page, max_per_page) == expected


@pytest.mark.parametrize(("page", "per_page", "max_per_page"), [(0, 20, 100), (-1, 150, 100), (3, 7, None)])
def test_clamp_agrees_with_flask_sqlalchemy_for_valid_per_page(page: int, per_page: int, max_per_page: int) -> None:
    # (Flask-SQLAlchemy answers per_page < 1 with 404 or its default of 20; the project clamps it to 1.)
    flask = FlaskPagination._prepare_page_args(page=page, per_page=per_page, max_per_page=max_per_page, error_out=False)
    assert clamp(page, per_page, max_per_page) == flask


def _sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_page_statements_limit_offset_and_unordered_count() -> None:
    stmt = select(User).where(User.is_active).order_by(User.created_at.desc(), User.id.desc())

    items, count = page_statements(stmt, page=3, per_page=25)

    items_sql = _sql(items)
    assert "ORDER BY users.created_at DESC, users.id DESC" in items_sql
    assert items_sql.rstrip().endswith("LIMIT 25 OFFSET 50")
    count_sql = _sql(count)
    assert count_sql.startswith("SELECT count(*) AS count_1")
    assert "ORDER BY" not in count_sql
    assert "LIMIT" not in count_sql
    assert "OFFSET" not in count_sql
    assert "users.is_active" in count_sql  # the filter is kept


def test_first_page_has_offset_zero() -> None:
    items, _ = page_statements(select(User), page=1, per_page=10)

    assert _sql(items).rstrip().endswith("LIMIT 10 OFFSET 0")
