"""The extension's ``Pagination`` as a value, beside Flask-SQLAlchemy's own: every attribute and ``iter_pages`` for
many (page, pages) combinations. (Both apps running ``db.paginate`` on a database: ``test_pagination_apps.py``.)"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest
from flask_sqlalchemy.pagination import Pagination as FlaskPagination

from service.quart_sqlalchemy.pagination import Pagination

ATTRIBUTES = [
    "page",
    "per_page",
    "max_per_page",
    "total",
    "items",
    "first",
    "last",
    "pages",
    "has_prev",
    "prev_num",
    "has_next",
    "next_num",
]


class ListPagination(FlaskPagination):
    """Flask-SQLAlchemy's Pagination over the numbers ``0..rows-1`` (its two query hooks are all it needs)."""

    def _query_items(self) -> list[Any]:
        rows = list(range(self._query_args["rows"]))
        return rows[self._query_offset : self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return int(self._query_args["rows"])


def flask_page(page: int, per_page: int, rows: int, *, count: bool = True) -> FlaskPagination:
    return ListPagination(page=page, per_page=per_page, max_per_page=None, error_out=False, count=count, rows=rows)


def ours_like(theirs: FlaskPagination) -> Pagination[Any]:
    """Ours, built as a value from the page Flask-SQLAlchemy queried."""
    return Pagination(theirs.items, theirs.page, theirs.per_page, theirs.total, max_per_page=theirs.max_per_page)


def snapshot(p: Any) -> dict[str, Any]:
    out = {name: getattr(p, name) for name in ATTRIBUTES}
    out["items"] = list(out["items"])
    out["iterated"] = list(p)
    out["iter_pages"] = list(p.iter_pages())
    return out


# (page, per_page, rows): empty, exact multiples, remainders, past the end, one per page, one page of many.
VALUE_CASES = [
    (1, 20, 0),
    (2, 20, 0),
    (1, 10, 30),
    (2, 10, 30),
    (3, 10, 30),
    (4, 10, 30),
    (1, 10, 25),
    (3, 10, 25),
    (7, 10, 25),
    (1, 1, 1),
    (2, 1, 1),
    (1, 1, 5),
    (5, 1, 5),
    (1, 100, 101),
    (2, 100, 101),
    (1, 7, 6),
    (12, 3, 35),
]


@pytest.mark.parametrize(("page", "per_page", "rows"), VALUE_CASES)
def test_every_attribute_matches_flask_sqlalchemy(page: int, per_page: int, rows: int) -> None:
    theirs = flask_page(page, per_page, rows)

    assert snapshot(ours_like(theirs)) == snapshot(theirs)


@pytest.mark.parametrize(("page", "per_page", "rows"), VALUE_CASES)
def test_uncounted_page_matches_flask_sqlalchemy(page: int, per_page: int, rows: int) -> None:
    # count=False: total is None (not len(items)), so pages is 0, there is no next page and no page numbers.
    theirs = flask_page(page, per_page, rows, count=False)
    ours = ours_like(theirs)

    assert snapshot(ours) == snapshot(theirs)
    assert (ours.total, ours.pages, ours.has_next, ours.next_num, list(ours.iter_pages())) == (None, 0, False, None, [])


@pytest.mark.parametrize(
    ("page", "per_page", "items", "first", "last"),
    [
        (1, 10, range(10), 1, 10),
        (3, 10, range(5), 21, 25),
        (2, 5, range(1), 6, 6),
        (4, 10, [], 0, 0),  # no items: both 0
    ],
)
def test_first_and_last_by_hand(page: int, per_page: int, items: range | list[int], first: int, last: int) -> None:
    p = Pagination(list(items), page, per_page, 99)

    assert (p.first, p.last) == (first, last)


def test_the_documented_iter_pages_example() -> None:
    # Flask-SQLAlchemy's docstring: 20 pages, current page 7.
    p: Pagination[int] = Pagination([], 7, 1, 20)

    assert list(p.iter_pages()) == [1, 2, None, 5, 6, 7, 8, 9, 10, 11, None, 19, 20]


ITER_PAGES_ARGS: list[dict[str, int]] = [
    {},
    {"left_edge": 0, "left_current": 0, "right_current": 0, "right_edge": 0},
    {"left_edge": 1, "left_current": 1, "right_current": 1, "right_edge": 1},
    {"left_edge": 3, "left_current": 5, "right_current": 2, "right_edge": 4},
    {"left_edge": 0, "right_edge": 0},
    {"left_current": 0, "right_current": 10},
]


@pytest.mark.parametrize("args", ITER_PAGES_ARGS, ids=lambda args: ",".join(f"{k}={v}" for k, v in args.items()))
def test_iter_pages_matches_flask_sqlalchemy_for_every_page_of_up_to_25_pages(args: dict[str, int]) -> None:
    mismatches = []
    for pages, page in itertools.product(range(26), range(1, 28)):
        theirs = flask_page(page, 1, pages)
        ours = ours_like(theirs)
        if list(ours.iter_pages(**args)) != list(theirs.iter_pages(**args)):
            mismatches.append((page, pages))

    assert mismatches == []


def test_iter_pages_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Pagination([], 1, 1, 5).iter_pages(2)  # type: ignore[call-arg]


def test_iterating_iterates_over_the_items() -> None:
    p = Pagination(["a", "b"], 1, 20, 2)

    assert list(p) == ["a", "b"]
    assert [x for x in p] == p.items  # noqa: C416 - the for statement is what templates run


def test_total_can_be_set_after_an_uncounted_query() -> None:
    # Flask-SQLAlchemy: "disabled and set manually if necessary".
    p = Pagination(list(range(10)), 1, 10, None)
    p.total = 35

    assert (p.pages, p.has_next, p.next_num) == (4, True, 2)


def test_max_per_page_defaults_to_flask_sqlalchemys() -> None:
    flask_default = inspect.signature(FlaskPagination).parameters["max_per_page"].default

    assert Pagination([], 1, 20, 0).max_per_page == flask_default == 100


@pytest.mark.parametrize("method", ["prev", "next"])
async def test_a_value_without_a_query_refuses_prev_and_next_clearly(method: str) -> None:
    p = Pagination([1, 2], 2, 2, 6)

    with pytest.raises(NotImplementedError, match=r"without a query.*paginate_select\(\) or db\.paginate\(\)"):
        await getattr(p, method)()
