"""Users: the seed's UserRepository."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.errors import UNIQUE_VIOLATION, sqlstate
from service.db.models import User
from service.errors import Conflict
from service.pagination import Pagination
from service.repositories._async.paging import paginate


def _email_taken(exc: IntegrityError) -> Conflict | None:
    if sqlstate(exc) == UNIQUE_VIOLATION:
        return Conflict("a user with this email already exists")
    return None


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_id(self, user_id: int) -> User | None:
        """A live user by id (soft-deleted users are filtered out by the session hook)."""
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).filter_by(email=email))
        return result.scalar_one_or_none()

    async def list_active(self, page: int = 1, per_page: int = 20) -> Pagination[User]:
        """Active, live users, newest first (``created_at`` desc, then ``id`` desc for a stable order)."""
        stmt = select(User).filter_by(is_active=True).order_by(User.created_at.desc(), User.id.desc())
        return await paginate(self.session, stmt, page, per_page)

    async def save(self, user: User) -> User:
        """Add and flush to get the id; no commit. A taken email becomes :class:`Conflict`."""
        self.session.add(user)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise (_email_taken(exc) or exc) from None
        return user

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert many users in one executemany (insertmanyvalues batches); no commit."""
        try:
            await self.session.execute(insert(User), list(rows))
        except IntegrityError as exc:
            raise (_email_taken(exc) or exc) from None
        return len(rows)
