"""User use cases. ``repo`` defaults to the real repository on ``session``; unit tests pass a fake one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.db.mixins import utcnow
from service.db.models import User
from service.errors import Conflict, NotFound
from service.quart_sqlalchemy.pagination import Pagination
from service.repositories._async.users import UserRepository
from service.schemas import UserCreate, UserUpdate


async def register_user(session: AsyncSession, data: UserCreate, repo: UserRepository | None = None) -> User:
    repo = repo if repo is not None else UserRepository(session)
    user = await repo.save(User(email=data.email, name=data.name))
    await session.commit()
    return user


async def get_user(session: AsyncSession, user_id: int, repo: UserRepository | None = None) -> User:
    user = await (repo if repo is not None else UserRepository(session)).get_by_id(user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def find_user_by_email(session: AsyncSession, email: str, repo: UserRepository | None = None) -> User:
    repo = repo if repo is not None else UserRepository(session)
    user = await repo.get_by_email(email.strip().lower())
    if user is None:
        raise NotFound("user not found")
    return user


async def list_users(
    session: AsyncSession, page: int, per_page: int, repo: UserRepository | None = None
) -> Pagination[User]:
    return await (repo if repo is not None else UserRepository(session)).list_active(page, per_page)


async def update_user(
    session: AsyncSession, user_id: int, data: UserUpdate, repo: UserRepository | None = None
) -> User:
    user = await get_user(session, user_id, repo)
    for field, value in data.changes().items():
        setattr(user, field, value)
    # A PATCH always advances updated_at, even when no value changed (onupdate only fires on a real UPDATE).
    user.updated_at = utcnow()
    await session.commit()
    return user


async def delete_user(session: AsyncSession, user_id: int, repo: UserRepository | None = None) -> None:
    user = await get_user(session, user_id, repo)
    user.soft_delete()
    await session.commit()


async def register_users(session: AsyncSession, rows: list[UserCreate], repo: UserRepository | None = None) -> int:
    """All or nothing: a repeated email in the payload or one already taken is a 409 and nothing is written.

    The repository fills the defaults and timestamps and loads the rows with one ``COPY``.
    """
    emails = [row.email for row in rows]
    if len(set(emails)) != len(emails):
        raise _repeated_email(emails)
    inserted = await (repo if repo is not None else UserRepository(session)).add_many(
        [{"email": row.email, "name": row.name} for row in rows]
    )
    await session.commit()
    return inserted


def _repeated_email(emails: list[str]) -> Conflict:
    """The 409 naming the first two rows that repeat an email (only built when the set check found one)."""
    first_seen: dict[str, int] = {}
    for index, email in enumerate(emails):
        if email in first_seen:
            return Conflict(f"rows {first_seen[email]} and {index} repeat the same email")
        first_seen[email] = index
    raise AssertionError("no repeated email")  # pragma: no cover - only called when the set check found one
