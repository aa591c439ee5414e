"""Reading the service's OpenAPI 3.0 document the way Schemathesis does (JSON Schema draft 4)."""

from __future__ import annotations

from typing import Any


def as_draft4(schema: Any) -> Any:
    """3.0's ``nullable: true`` spelled as draft 4 can read it (``anyOf`` with ``null``); the rest unchanged."""
    if isinstance(schema, list):
        return [as_draft4(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: as_draft4(value) for key, value in schema.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if schema.get("nullable") else converted
