"""Fill the extension's :class:`Pagination` from a select: one statement for the page, one for the count.

The service's handlers have validated ``page`` / ``per_page`` already (the contract's 400), so this clamps rather
than reading the request or answering 404 as ``paginate_select`` does; the value it returns has no query hook.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from service.pagination import MAX_PER_PAGE
from service.quart_sqlalchemy.pagination import Pagination, clamp, page_statements


async def paginate(session: AsyncSession, stmt: Select[Any], page: int, per_page: int) -> Pagination[Any]:
    page, per_page = clamp(page, per_page, MAX_PER_PAGE)
    items_stmt, count_stmt = page_statements(stmt, page, per_page)
    items = (await session.execute(items_stmt)).scalars().all()
    total = (await session.execute(count_stmt)).scalar_one()
    return Pagination(items, page, per_page, total, max_per_page=MAX_PER_PAGE)
