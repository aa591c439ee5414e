# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Fill a :class:`Pagination` from a select: one statement for the page, one for the count."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from service.pagination import Pagination, clamp, page_statements


def paginate(session: Session, stmt: Select[Any], page: int, per_page: int) -> Pagination[Any]:
    page, per_page = clamp(page, per_page)
    items_stmt, count_stmt = page_statements(stmt, page, per_page)
    items = (session.execute(items_stmt)).scalars().all()
    total = (session.execute(count_stmt)).scalar_one()
    return Pagination(items=items, page=page, per_page=per_page, total=total)
