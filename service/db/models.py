"""The seed's models, unchanged in meaning."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.base import Base
from service.db.mixins import SoftDeleteMixin, TimestampMixin

EMAIL_LENGTH = 255
NAME_LENGTH = 255
ROLE_LENGTH = 50
MESSAGE_LENGTH = 2000
PHONE_LENGTH = 20
TYPE_LENGTH = 50


class User(TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    role: Mapped[str] = mapped_column(String(ROLE_LENGTH), default="member", server_default="member")

    # Eager loading is always explicit in this project: a lazy load in async code is a bug, so refuse it.
    notifications: Mapped[list[Notification]] = relationship(back_populates="user", lazy="raise")

    __table_args__ = (
        # Unique among live rows only: a soft-deleted user's email may be registered again.
        Index(
            "uq_users_email_live",
            "email",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        # Lists are "active, live, newest first": this index serves the order and the filter.
        Index(
            "ix_users_active_created",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("is_active AND deleted_at IS NULL"),
        ),
    )


class Notification(TimestampMixin, SoftDeleteMixin, Base):
    """Single-table inheritance root; the ``type`` column picks the subclass on load."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    message: Mapped[str] = mapped_column(String(MESSAGE_LENGTH))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    user: Mapped[User | None] = relationship(back_populates="notifications", lazy="raise")

    __mapper_args__: dict[str, Any] = {
        "polymorphic_on": "type",
        "polymorphic_identity": "notification",
    }
    __table_args__ = (Index("ix_notifications_created", text("created_at DESC"), text("id DESC")),)


class EmailNotification(Notification):
    # "inline": a query on Notification loads every kind's columns at once (no lazy load per row in async code).
    # Subclass columns are nullable: the other kinds share the table (the seed's STI trade-off).
    email_address: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))

    __mapper_args__: dict[str, Any] = {"polymorphic_identity": "email", "polymorphic_load": "inline"}


class SMSNotification(Notification):
    phone_number: Mapped[str | None] = mapped_column(String(PHONE_LENGTH))

    __mapper_args__: dict[str, Any] = {"polymorphic_identity": "sms", "polymorphic_load": "inline"}


class Product(TimestampMixin, Base):
    """Optimistic locking: every UPDATE carries ``WHERE version_id = <expected>``."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    stock: Mapped[int] = mapped_column(BigInteger)
    version_id: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __mapper_args__: dict[str, Any] = {"version_id_col": version_id}
    # The last line of defence for "never negative stock", whatever the application does.
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_non_negative"),)
