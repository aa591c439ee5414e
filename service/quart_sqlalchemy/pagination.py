"""Flask-SQLAlchemy 3.1's ``Pagination``, for SQLAlchemy asyncio and Quart.

The attributes, properties and ``iter_pages`` are Flask-SQLAlchemy's, line for line; what does I/O is awaitable:
``await paginate_select(session, select)`` (what ``await db.paginate(select)`` calls) and ``await page.prev()`` /
``await page.next()``. Flask-SQLAlchemy runs its queries in ``Pagination.__init__``; a constructor cannot await, so
here the query runs first, in :func:`paginate_select`, and the :class:`Pagination` is the value it fills.

A :class:`Pagination` built directly (from statements an application ran itself, e.g. with
:func:`page_statements`) is a plain value: it has no query to run for another page, so its ``prev()`` and ``next()``
raise :class:`NotImplementedError`. :func:`paginate_select` returns a :class:`SelectPagination`, which has one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from math import ceil
from typing import Any, Generic, TypeVar

from quart import abort, has_request_context, request
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "DEFAULT_MAX_PER_PAGE",
    "DEFAULT_PER_PAGE",
    "Pagination",
    "SelectPagination",
    "clamp",
    "page_statements",
    "paginate_select",
]

T = TypeVar("T")

DEFAULT_PER_PAGE = 20
"""Flask-SQLAlchemy's ``per_page`` when neither the call nor the request gives one."""

DEFAULT_MAX_PER_PAGE = 100
"""Flask-SQLAlchemy's ``Pagination(max_per_page=100)`` default (``db.paginate`` itself defaults to no limit)."""

# PostgreSQL's OFFSET is a bigint: a page far past the end is an empty page, not an out-of-range error.
_MAX_OFFSET = 2**63 - 1


class Pagination(Generic[T]):
    """One page of results, with the attributes and methods of ``flask_sqlalchemy.pagination.Pagination``.

    :param items: the items on this page.
    :param page: the current page (from 1).
    :param per_page: the maximum number of items on a page.
    :param total: the number of items across all pages, or ``None`` when it was not counted (``count=False``);
        settable afterwards, as in Flask-SQLAlchemy.
    :param max_per_page: the limit ``per_page`` was held to (``None``: none); Flask-SQLAlchemy's default, 100.

    Iterating over a pagination iterates over its items. ``prev()`` and ``next()`` need a query to run: a plain
    value raises :class:`NotImplementedError`; :func:`paginate_select` returns a :class:`SelectPagination`.
    """

    __slots__ = ("items", "max_per_page", "page", "per_page", "total")

    def __init__(
        self,
        items: Sequence[T],
        page: int,
        per_page: int,
        total: int | None,
        *,
        max_per_page: int | None = DEFAULT_MAX_PER_PAGE,
    ) -> None:
        self.items: Sequence[T] = items
        """The items on the current page."""
        self.page: int = page
        """The current page."""
        self.per_page: int = per_page
        """The maximum number of items on a page."""
        self.total: int | None = total
        """The total number of items across all pages (``None`` when not counted)."""
        self.max_per_page: int | None = max_per_page
        """The maximum allowed value for ``per_page``."""

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} page={self.page} per_page={self.per_page} total={self.total}"
            f" items={len(self.items)}>"
        )

    @property
    def first(self) -> int:
        """The number of the first item on the page, starting from 1, or 0 if there are no items."""
        if len(self.items) == 0:
            return 0
        return (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        """The number of the last item on the page, starting from 1, inclusive, or 0 if there are no items."""
        first = self.first
        return max(first, first + len(self.items) - 1)

    @property
    def pages(self) -> int:
        """The total number of pages (0 when ``total`` is 0 or unknown)."""
        if self.total == 0 or self.total is None:
            return 0
        return ceil(self.total / self.per_page)

    @property
    def has_prev(self) -> bool:
        """``True`` if this is not the first page."""
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        """The previous page number, or ``None`` if this is the first page."""
        if not self.has_prev:
            return None
        return self.page - 1

    @property
    def has_next(self) -> bool:
        """``True`` if this is not the last page."""
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        """The next page number, or ``None`` if this is the last page."""
        if not self.has_next:
            return None
        return self.page + 1

    async def prev(self, *, error_out: bool = False) -> Pagination[T]:
        """Query the previous page (Flask-SQLAlchemy's ``prev()``): no count query, ``total`` carried over.

        :param error_out: abort with 404 if the page is empty and not page 1, or if ``page`` is below 1.
        """
        # Flask-SQLAlchemy's prev() does not pass max_per_page on, so the new page gets the constructor's default
        # (100) whatever this page's limit was (its next() passes it); kept, so both pages come out the same.
        p = await self._query_page(self.page - 1, self.per_page, DEFAULT_MAX_PER_PAGE, error_out)
        p.total = self.total
        return p

    async def next(self, *, error_out: bool = False) -> Pagination[T]:
        """Query the next page (Flask-SQLAlchemy's ``next()``): no count query, ``total`` carried over.

        :param error_out: abort with 404 if the page is empty.
        """
        p = await self._query_page(self.page + 1, self.per_page, self.max_per_page, error_out)
        p.total = self.total
        return p

    async def _query_page(self, page: int, per_page: int, max_per_page: int | None, error_out: bool) -> Pagination[T]:
        """Another page of the same query, not counted: what ``prev()`` and ``next()`` run. Subclasses with a query
        implement it (Flask-SQLAlchemy's ``_query_items`` / ``_query_count`` hooks, in one awaitable)."""
        raise NotImplementedError(
            f"this {type(self).__name__} was built as a value, without a query: prev() and next() need one"
            " (use paginate_select() or db.paginate(), which return a SelectPagination)"
        )

    def iter_pages(
        self,
        *,
        left_edge: int = 2,
        left_current: int = 2,
        right_current: int = 4,
        right_edge: int = 2,
    ) -> Iterator[int | None]:
        """Yield page numbers for a pagination widget; skipped pages between the edges and the middle are ``None``.

        With 20 pages and page 7: ``1, 2, None, 5, 6, 7, 8, 9, 10, 11, None, 19, 20``.

        :param left_edge: how many pages to show from the first page.
        :param left_current: how many pages to show left of the current page.
        :param right_current: how many pages to show right of the current page (inclusive boundary).
        :param right_edge: how many pages to show from the last page.
        """
        pages_end = self.pages + 1
        if pages_end == 1:
            return

        left_end = min(1 + left_edge, pages_end)
        yield from range(1, left_end)
        if left_end == pages_end:
            return

        mid_start = max(left_end, self.page - left_current)
        mid_end = min(self.page + right_current + 1, pages_end)
        if mid_start - left_end > 0:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end == pages_end:
            return

        right_start = max(mid_end, pages_end - right_edge)
        if right_start - mid_end > 0:
            yield None
        yield from range(right_start, pages_end)

    def __iter__(self) -> Iterator[T]:
        yield from self.items


class SelectPagination(Pagination[T]):
    """What :func:`paginate_select` (and ``db.paginate``) returns: a :class:`Pagination` that keeps its ``select``
    and ``session`` so that ``await prev()`` / ``await next()`` can query the neighbouring pages.

    Not built by hand (as in Flask-SQLAlchemy): call :func:`paginate_select`.
    """

    __slots__ = ("_select", "_session")

    def __init__(
        self,
        items: Sequence[T],
        page: int,
        per_page: int,
        total: int | None,
        *,
        max_per_page: int | None,
        session: AsyncSession,
        select: Select[Any],
    ) -> None:
        super().__init__(items, page, per_page, total, max_per_page=max_per_page)
        self._session = session
        self._select = select

    async def _query_page(self, page: int, per_page: int, max_per_page: int | None, error_out: bool) -> Pagination[T]:
        return await paginate_select(
            self._session,
            self._select,
            page=page,
            per_page=per_page,
            max_per_page=max_per_page,
            error_out=error_out,
            count=False,
        )


def _prepare_page_args(
    *, page: int | None, per_page: int | None, max_per_page: int | None, error_out: bool
) -> tuple[int, int]:
    """Flask-SQLAlchemy's ``Pagination._prepare_page_args``: ``page`` / ``per_page`` from the request's query string
    when not given, held to ``max_per_page``; with ``error_out`` a non-integer or a value below 1 aborts with 404,
    without it falls back to the defaults (1, 20)."""
    if has_request_context():
        if page is None:
            try:
                page = int(request.args.get("page", 1))
            except (TypeError, ValueError):
                if error_out:
                    abort(404)
                page = 1

        if per_page is None:
            try:
                per_page = int(request.args.get("per_page", DEFAULT_PER_PAGE))
            except (TypeError, ValueError):
                if error_out:
                    abort(404)
                per_page = DEFAULT_PER_PAGE
    else:
        if page is None:
            page = 1
        if per_page is None:
            per_page = DEFAULT_PER_PAGE

    if max_per_page is not None:
        per_page = min(per_page, max_per_page)

    if page < 1:
        if error_out:
            abort(404)
        page = 1

    if per_page < 1:
        if error_out:
            abort(404)
        per_page = DEFAULT_PER_PAGE

    return page, per_page


async def paginate_select(
    session: AsyncSession,
    select: Select[Any],
    *,
    page: int | None = None,
    per_page: int | None = None,
    max_per_page: int | None = None,
    error_out: bool = True,
    count: bool = True,
) -> SelectPagination[Any]:
    """One page of ``select``'s results, as Flask-SQLAlchemy's ``db.paginate`` (``await db.paginate`` calls this).

    The statement should select a model class, like ``select(User)``: the result gets ``unique()`` and
    ``scalars()``, as in Flask-SQLAlchemy.

    :param session: the session to run the two statements in.
    :param select: the statement to paginate.
    :param page: the current page; defaults to the ``page`` query arg during a request, else 1.
    :param per_page: the maximum number of items on a page; defaults to the ``per_page`` query arg during a
        request, else 20.
    :param max_per_page: the maximum allowed value for ``per_page`` (``None``, the default: no limit).
    :param error_out: abort with 404 if no items are returned and ``page`` is not 1, or if ``page`` or ``per_page``
        is below 1, or if either is not an integer; without it, fall back to page 1 and 20 per page.
    :param count: run the count query; without it ``total`` is ``None`` (set it yourself if you know it).
    """
    page, per_page = _prepare_page_args(page=page, per_page=per_page, max_per_page=max_per_page, error_out=error_out)
    items_stmt, count_stmt = page_statements(select, page, per_page)
    items = (await session.execute(items_stmt)).unique().scalars().all()

    if not items and page != 1 and error_out:
        abort(404)

    total: int | None = (await session.execute(count_stmt)).scalar_one() if count else None
    return SelectPagination(items, page, per_page, total, max_per_page=max_per_page, session=session, select=select)


def clamp(page: int, per_page: int, max_per_page: int | None = DEFAULT_MAX_PER_PAGE) -> tuple[int, int]:
    """``page`` at least 1, ``per_page`` between 1 and ``max_per_page``: for callers that validated their input
    themselves and want a page rather than a 404 (Flask-SQLAlchemy answers a ``per_page`` below 1 with 404 or 20)."""
    page = max(page, 1)
    per_page = max(per_page, 1)
    if max_per_page is not None:
        per_page = min(per_page, max_per_page)
    return page, per_page


def page_statements(stmt: Select[Any], page: int, per_page: int) -> tuple[Select[Any], Select[Any]]:
    """The items statement (offset/limit) and the count statement (ordering dropped) for one page.

    The count wraps ``stmt`` in a subquery as Flask-SQLAlchemy's does; its ``lazyload("*")`` is left out because
    SQLAlchemy 2 renders no eager load inside a subquery (the SQL is the same).
    """
    items = stmt.limit(per_page).offset(min((page - 1) * per_page, _MAX_OFFSET))
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    return items, count
