"""Request and response shapes shared by both apps.

Input models are strict (no ``"1"`` for an int, no ``1`` for a bool) and forbid unknown fields, which is also
how client-supplied ``id``, ``version_id`` and timestamps are refused. Length limits come from the models'
columns so the database never sees a string it would reject.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from service.db import models
from service.pagination import DEFAULT_PER_PAGE
from service.quart_sqlalchemy.pagination import Pagination

INT64_MAX = 2**63 - 1
MAX_BULK_ROWS = 10_000

# What names, messages, emails and phone numbers are trimmed of: Unicode's White_Space, the set pydantic's
# ``strip_whitespace`` removes (Python's ``str.isspace`` adds U+001C..U+001F, which are not trimmed).
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


def char_class(characters: str) -> str:
    """``characters`` as the inside of a regex character class that Python, ECMA-262 and Rust read alike."""
    codes = sorted(set(map(ord, characters)))
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return "".join(f"\\u{low:04x}" + (f"-\\u{high:04x}" if high > low else "") for low, high in runs)


_WS = char_class(WHITESPACE)
# An address: no NUL, "@" or whitespace in str.isspace's sense around one "@" and a dot in the domain.
_NOT_IN_EMAIL = char_class("\x00@\x1c\x1d\x1e\x1f" + WHITESPACE)
_EMAIL = re.compile(f"[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\\.[^{_NOT_IN_EMAIL}]+")


def documented(pattern: str, **keywords: Any) -> WithJsonSchema:
    """A string field's JSON Schema: what its validators accept, as one ``pattern`` (anchored here) and ``keywords``.

    Fields are trimmed before they are checked, which no length keyword can say: the patterns spell the trimming
    out. ``tests/unit/test_schemas.py`` holds each validator and its pattern to agreement.

    One rule stays out of every pattern: text with a lone surrogate (:func:`storable`) is refused. Rust's regex
    (jsonschema_rs, so schemathesis) can neither spell U+D800..U+DFFF nor meet one in a string; the fields'
    ``description`` says it instead (:data:`NO_LONE_SURROGATES`).
    """
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern}$", **keywords})


def trimmed_text_pattern(max_length: int) -> str:
    """1..``max_length`` characters without NUL, the first and last no whitespace, with any whitespace around them.

    Lone surrogates are refused too, which the pattern leaves unsaid (see :func:`documented`).
    """
    edge = f"[^\\u0000{_WS}]"
    return f"[{_WS}]*{edge}(?:[^\\u0000]{{0,{max_length - 2}}}{edge})?[{_WS}]*"


class TrimmedText:
    """The validator of free text: trimmed of :data:`WHITESPACE`, then 1..``max_length`` characters, storable.

    Storable: no NUL and no lone surrogate (see :func:`storable`).
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def __call__(self, value: str) -> str:
        value = storable(value.strip(WHITESPACE))
        if not value:
            raise ValueError("must not be blank")
        if len(value) > self.max_length:
            raise ValueError(f"must have at most {self.max_length} characters")
        return value


LONE_SURROGATES = "must not contain lone surrogates (unpaired \\uD800-\\uDFFF escapes)"
# The schema's word for what no pattern can say (see documented()).
NO_LONE_SURROGATES = "A lone surrogate (an unpaired \\uD800-\\uDFFF escape) is refused; an escaped pair is fine."


def storable(value: str) -> str:
    """``value`` if PostgreSQL can store it as text: no NUL and no lone surrogate; else a ``ValueError`` saying which.

    JSON may spell half of a UTF-16 pair as an escape (``"\\ud800"``) and Python's parser hands it on as a ``str``
    that has no UTF-8 form: the driver would fail to encode it (a 500). A valid escaped pair is one character and
    passes. Refused here rather than in the driver, with the field's name in the problem.
    """
    # PostgreSQL text cannot hold U+0000 either.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii():  # the common case skips the encoding
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(LONE_SURROGATES) from None
    return value


def _email(value: str) -> str:
    value = storable(value.strip(WHITESPACE))
    if not _EMAIL.fullmatch(value):
        raise ValueError("is not a valid email address")
    # Addresses are compared case-insensitively; storing one form keeps the unique index honest.
    lowered = value.lower()
    # "İ" lower-cases to two characters: the stored form must still fit the column (else a 500 from the driver).
    if len(lowered) > models.EMAIL_LENGTH:
        raise ValueError(f"must have at most {models.EMAIL_LENGTH} characters once lower-cased")
    return lowered


# The length limit counts the address as sent, surrounding whitespace included, so the schema can state it.
Email = Annotated[
    str,
    Field(max_length=models.EMAIL_LENGTH),
    AfterValidator(_email),
    documented(
        f"[{_WS}]*{_EMAIL.pattern}[{_WS}]*",
        maxLength=models.EMAIL_LENGTH,
        description="Stored trimmed and lower-cased, which must also fit in "
        f"{models.EMAIL_LENGTH} characters; compared case-insensitively. {NO_LONE_SURROGATES}",
    ),
]
Name = Annotated[
    str,
    AfterValidator(TrimmedText(models.NAME_LENGTH)),
    documented(trimmed_text_pattern(models.NAME_LENGTH), description=f"Stored trimmed. {NO_LONE_SURROGATES}"),
]
Role = Annotated[
    str,
    StringConstraints(min_length=1, max_length=models.ROLE_LENGTH, pattern=r"^[a-z][a-z0-9_-]*$"),
]
Message = Annotated[
    str,
    AfterValidator(TrimmedText(models.MESSAGE_LENGTH)),
    documented(trimmed_text_pattern(models.MESSAGE_LENGTH), description=f"Stored trimmed. {NO_LONE_SURROGATES}"),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=models.PHONE_LENGTH, pattern=r"^\+?[0-9 ()-]+$"),
    # Trimmed: 3..20 characters, an optional "+" then digits, spaces, parentheses and dashes, no space at either end.
    documented(
        f"[{_WS}]*[+0-9()-][0-9 ()-]{{1,{models.PHONE_LENGTH - 2}}}[0-9()-][{_WS}]*", description="Stored trimmed."
    ),
]
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
Stock = Annotated[int, Field(ge=0, le=INT64_MAX)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class UserCreate(Input):
    email: Email
    name: Name


def _no_null_in_schema(schema: dict[str, Any]) -> None:
    """A patch's JSON Schema: each field may be absent, never ``null`` (``X | None`` only serves to tell absent)."""
    for name, field_schema in schema.get("properties", {}).items():
        branches = field_schema.get("anyOf", [])
        if {"type": "null"} in branches:
            (kept,) = [branch for branch in branches if branch != {"type": "null"}]
            rest = {key: value for key, value in field_schema.items() if key not in {"anyOf", "default"}}
            schema["properties"][name] = {**kept, **rest}


class Patch(Input):
    """A partial update: absent fields stay as they are; an explicit ``null`` is refused (no field is nullable)."""

    model_config = ConfigDict(json_schema_extra=_no_null_in_schema)

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

    email: Annotated[
        str,
        StringConstraints(min_length=1, max_length=models.EMAIL_LENGTH),
        AfterValidator(storable),
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": models.EMAIL_LENGTH, "pattern": r"^[^\u0000]*$"}
        ),
    ]


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
