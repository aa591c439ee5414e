# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Users: the seed's UserRepository."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.bulk import DuplicateKey, batch_defaults, copy_rows_sync, records
from service.db.errors import UNIQUE_VIOLATION, sqlstate
from service.db.mixins import utcnow
from service.db.models import User
from service.errors import Conflict
from service.pagination import Pagination
from service.repositories._sync.paging import paginate
from service.repositories.statements import by_id, by_id_params

OnConflict = Literal["error", "skip"]
_USERS: Table = User.__table__  # type: ignore[assignment]  # a declarative model's table is a Table


def _email_taken(exc: IntegrityError) -> Conflict | None:
    if sqlstate(exc) == UNIQUE_VIOLATION:
        return Conflict("a user with this email already exists")
    return None


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_id(self, user_id: int) -> User | None:
        """A live user by id (soft-deleted users are filtered out by the session hook)."""
        return (self.session.execute(by_id(User), by_id_params(user_id))).scalar_one_or_none()

    def get_by_email(self, email: str) -> User | None:
        result = self.session.execute(select(User).filter_by(email=email))
        return result.scalar_one_or_none()

    def list_active(self, page: int = 1, per_page: int = 20) -> Pagination[User]:
        """Active, live users, newest first (``created_at`` desc, then ``id`` desc for a stable order)."""
        stmt = select(User).filter_by(is_active=True).order_by(User.created_at.desc(), User.id.desc())
        return paginate(self.session, stmt, page, per_page)

    def save(self, user: User) -> User:
        """Add and flush to get the id; no commit. A taken email becomes :class:`Conflict`."""
        self.session.add(user)
        try:
            self.session.flush()
        except IntegrityError as exc:
            raise (_email_taken(exc) or exc) from None
        return user

    def add_many(self, rows: Sequence[Mapping[str, Any]], *, on_conflict: OnConflict = "error") -> int:
        """Insert many users in the session's transaction (no commit); return how many were inserted.

        Each row has at least ``email`` and ``name`` (already validated); columns it lacks get what the ORM would
        write: ``role`` 'member', ``is_active`` true, ``created_at`` = ``updated_at`` = one UTC timestamp for the
        batch, ``deleted_at`` NULL; ids come from the identity column.

        ``on_conflict="error"`` (the API's all-or-nothing): one ``COPY``, the fastest path into PostgreSQL; an
        email taken by a live user, or repeated in ``rows``, raises :class:`Conflict` and leaves the transaction
        aborted for the caller to roll back. ``on_conflict="skip"`` (re-runnable seeding): ``COPY`` cannot skip
        rows, so this is a Core executemany of ``INSERT ... ON CONFLICT DO NOTHING`` (insertmanyvalues batches);
        rows whose email is taken are left out and not counted.
        """
        if not rows:
            return 0
        defaults = batch_defaults(_USERS, utcnow())
        if on_conflict == "skip":
            stmt = (
                pg_insert(_USERS)
                # The arbiter is the partial unique index uq_users_email_live: its predicate must be repeated.
                .on_conflict_do_nothing(index_elements=[_USERS.c.email], index_where=_USERS.c.deleted_at.is_(None))
                .returning(_USERS.c.id)
            )
            result = self.session.execute(stmt, [{**defaults, **row} for row in rows])
            return len(result.all())
        columns, values = records(rows, defaults)
        try:
            return copy_rows_sync(self.session, _USERS, columns, values)
        except DuplicateKey:
            raise Conflict("a user with one of these emails already exists") from None
