"""Request and response shapes shared by both apps.

Input models are strict (no ``"1"`` for an int, no ``1`` for a bool) and forbid unknown fields, which is also
how client-supplied ``id``, ``version_id`` and timestamps are refused. Length limits come from the models'
columns so the database never sees a string it would reject.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator

from service.db import models
from service.pagination import DEFAULT_PER_PAGE, Pagination

INT64_MAX = 2**63 - 1
MAX_BULK_ROWS = 10_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold U+0000: refuse it here rather than fail in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    # Addresses are compared case-insensitively; storing one form keeps the unique index honest.
    return value.lower()


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=models.EMAIL_LENGTH),
    AfterValidator(_no_nul),
    AfterValidator(_email),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=models.NAME_LENGTH),
    AfterValidator(_no_nul),
]
Role = Annotated[
    str,
    StringConstraints(min_length=1, max_length=models.ROLE_LENGTH, pattern=r"^[a-z][a-z0-9_-]*$"),
]
Message = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=models.MESSAGE_LENGTH),
    AfterValidator(_no_nul),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=models.PHONE_LENGTH, pattern=r"^\+?[0-9 ()-]+$"),
]
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
Stock = Annotated[int, Field(ge=0, le=INT64_MAX)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class UserCreate(Input):
    email: Email
    name: Name


class Patch(Input):
    """A partial update: absent fields stay as they are; an explicit ``null`` is refused (no field is nullable)."""

    @model_validator(mode="after")
    def _no_nulls(self) -> Patch:
        nulls = [name for name in self.model_fields_set if getattr(self, name) is None]
        if nulls:
            raise ValueError(f"{', '.join(sorted(nulls))} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class UserUpdate(Patch):
    name: Name | None = None
    is_active: bool | None = None
    role: Role | None = None


class UsersBulk(RootModel[list[UserCreate]]):
    root: Annotated[list[UserCreate], Field(min_length=1, max_length=MAX_BULK_ROWS)]
    model_config = ConfigDict(strict=True)


class EmailNotificationCreate(Input):
    type: Literal["email"]
    message: Message
    email_address: Email
    user_id: Id | None = None


class SMSNotificationCreate(Input):
    type: Literal["sms"]
    message: Message
    phone_number: Phone
    user_id: Id | None = None


class NotificationCreate(RootModel[EmailNotificationCreate | SMSNotificationCreate]):
    root: Annotated[EmailNotificationCreate | SMSNotificationCreate, Field(discriminator="type")]


class ProductCreate(Input):
    name: Name
    stock: Stock


class ProductUpdate(Patch):
    name: Name | None = None
    stock: Stock | None = None


class Reserve(Input):
    quantity: Annotated[int, Field(ge=1, le=INT64_MAX)]


class PageQuery(BaseModel):
    """Query strings arrive as text, so this model converts (lax) but still refuses non-integers and values < 1."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    page: Annotated[int, Field(ge=1, le=INT64_MAX)] = 1
    # Above the maximum is clamped, not refused (Flask-SQLAlchemy's max_per_page).
    per_page: Annotated[int, Field(ge=1, le=INT64_MAX)] = DEFAULT_PER_PAGE


class NotificationPageQuery(PageQuery):
    type: Literal["email", "sms"] | None = None


class EmailQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    email: Annotated[str, StringConstraints(min_length=1, max_length=models.EMAIL_LENGTH), AfterValidator(_no_nul)]


class LatencyQuery(BaseModel):
    """``/bench/latency``: how long the statement waits inside PostgreSQL."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ms: Annotated[int, Field(ge=0, le=10_000)] = 10


# -- responses ----------------------------------------------------------------------------------------------


def _ts(value: datetime) -> str:
    return value.isoformat()


def user_out(user: models.User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "is_active": user.is_active,
        "created_at": _ts(user.created_at),
        "updated_at": _ts(user.updated_at),
    }


def notification_out(notification: models.Notification) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": notification.id,
        "type": notification.type,
        "message": notification.message,
        "user_id": notification.user_id,
        "created_at": _ts(notification.created_at),
    }
    if isinstance(notification, models.EmailNotification):
        body["email_address"] = notification.email_address
    elif isinstance(notification, models.SMSNotification):
        body["phone_number"] = notification.phone_number
    return body


def product_out(product: models.Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "stock": product.stock,
        "version_id": product.version_id,
        "created_at": _ts(product.created_at),
        "updated_at": _ts(product.updated_at),
    }


def page_out(page: Pagination[Any], item_out: Any) -> dict[str, Any]:
    return {
        "items": [item_out(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
        "has_next": page.has_next,
        "has_prev": page.has_prev,
        "next_num": page.next_num,
        "prev_num": page.prev_num,
    }
