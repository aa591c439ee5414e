"""One concern per mixin: timestamps and soft deletion."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, func
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class TimestampMixin:
    """``created_at`` / ``updated_at``, timezone-aware; ``updated_at`` advances on every ORM update.

    The server defaults cover rows written outside the ORM (COPY, SQL scripts, data migrations).
    """

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class SoftDeleteMixin:
    """Marks a model as soft-deletable.

    Rows with ``deleted_at`` set are hidden from every ORM select by :mod:`service.db.soft_delete`; pass
    ``execution_options(include_deleted=True)`` to see them.
    """

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        """Mark the row deleted; the change is written at the next flush like any other attribute."""
        self.deleted_at = utcnow()
