"""The JSON shapes of the contract's answers (``service.schemas``' ``*_out`` functions), as OpenAPI 3.0 schemas.

They say what every answer carries, no more: every field required, no other field, each value of its column's
type and range. ``tests/unit/test_openapi.py`` holds the ``*_out`` functions to them; the fuzzing tests hold both
apps to them.
"""

from __future__ import annotations

from typing import Any

from service.db import models
from service.pagination import MAX_PER_PAGE
from service.schemas import INT64_MAX, MAX_BULK_ROWS

ID = {"type": "integer", "minimum": 1, "maximum": INT64_MAX}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO 8601 with a UTC offset"}
COUNT = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict[str, Any], description: str = "", optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with ``properties`` and no other member, each present but the ``optional`` ones."""
    schema: dict[str, Any] = {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
    }
    return {"description": description, **schema} if description else schema


def text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


def page_of(item: str) -> dict[str, Any]:
    """Flask-SQLAlchemy's ``Pagination`` fields around the items of one page."""
    return closed(
        {
            "items": {"type": "array", "items": ref(item), "maxItems": MAX_PER_PAGE},
            "page": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": COUNT,
            "pages": COUNT,
            "has_next": {"type": "boolean"},
            "has_prev": {"type": "boolean"},
            "next_num": {"type": "integer", "minimum": 2, "nullable": True},
            "prev_num": {"type": "integer", "minimum": 1, "nullable": True},
        },
        f"One page of {item} items (past the last page: no items)",
    )


def _notification(kind: str, field: str, max_length: int) -> dict[str, Any]:
    return closed(
        {
            "id": ID,
            "type": {"type": "string", "enum": [kind]},
            "message": text(models.MESSAGE_LENGTH),
            "user_id": {**ID, "nullable": True},
            "created_at": TIMESTAMP,
            field: text(max_length),
        }
    )


PROBLEM = closed(
    {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": ref("FieldError")},
    },
    "RFC 9457 problem details; never a stack trace, SQL, class names, paths or the database URL",
    # Validation problems carry ``errors``: a 400 for a query parameter, every 422.
    optional=("errors",),
)

SHAPES: dict[str, dict[str, Any]] = {
    "Health": closed({"status": {"type": "string", "enum": ["ok"]}}),
    "Ready": closed({"status": {"type": "string", "enum": ["ready"]}}),
    "Metrics": {"type": "string", "description": "Prometheus text exposition"},
    "User": closed(
        {
            "id": ID,
            "email": text(models.EMAIL_LENGTH),
            "name": text(models.NAME_LENGTH),
            "role": text(models.ROLE_LENGTH),
            "is_active": {"type": "boolean"},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "UserPage": page_of("User"),
    "Inserted": closed({"inserted": {"type": "integer", "minimum": 1, "maximum": MAX_BULK_ROWS}}),
    "EmailNotification": _notification("email", "email_address", models.EMAIL_LENGTH),
    "SMSNotification": _notification("sms", "phone_number", models.PHONE_LENGTH),
    "Notification": {
        "oneOf": [ref("EmailNotification"), ref("SMSNotification")],
        "discriminator": {
            "propertyName": "type",
            "mapping": {"email": ref("EmailNotification")["$ref"], "sms": ref("SMSNotification")["$ref"]},
        },
    },
    "NotificationPage": page_of("Notification"),
    "Product": closed(
        {
            "id": ID,
            "name": text(models.NAME_LENGTH),
            "stock": COUNT,
            "version_id": ID,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
    ),
    "Problem": PROBLEM,
    "FieldError": closed(
        {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
        },
        "One failed rule: where in the input (a row index first for bulk bodies), and what is wrong",
    ),
}
