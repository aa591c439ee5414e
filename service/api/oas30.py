"""pydantic's JSON Schema (draft 2020-12) as OpenAPI 3.0 Schema Objects, for the request models.

3.0 has no ``const``, no ``null`` type and no ``$defs``: ``const`` becomes a one-value ``enum``, ``X | None`` becomes
``X`` with ``nullable``, definitions become components. Any other keyword 3.0 lacks is refused, so a model that
needs one fails the document's unit test instead of publishing a schema that means something else.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"
_NULL = {"type": "null"}
# Keywords whose meaning is the same in 3.0's Schema Object (annotations included).
_KEPT = {
    "type", "format", "enum", "default", "description", "pattern", "minLength", "maxLength", "minimum",
    "maximum", "multipleOf", "minItems", "maxItems", "uniqueItems", "required", "discriminator", "$ref",
}  # fmt: skip
_SUBSCHEMAS = {"items", "additionalProperties", "not"}
_SUBSCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}


def model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """The Schema Object of ``model`` (validation mode), its definitions added to ``components``."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        add_component(components, name, schema_object(definition))
    return schema_object(schema)


def add_component(components: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """Add ``name``; two different schemas of one name would make every ``$ref`` to it ambiguous."""
    if components.setdefault(name, schema) != schema:
        raise ValueError(f"two different schemas named {name!r}")


def schema_object(schema: dict[str, Any]) -> dict[str, Any]:
    """One 2020-12 schema as a 3.0 Schema Object (titles dropped: components and properties are named already)."""
    branches = schema.get("anyOf", [])
    if _NULL in branches:
        rest = {key: value for key, value in schema.items() if key != "anyOf"}
        others = [branch for branch in branches if branch != _NULL]
        inner = schema_object(others[0] if len(others) == 1 else {"anyOf": others})
        # Siblings of a $ref are ignored in 3.0: wrap it to make it nullable.
        inner = {"allOf": [inner]} if "$ref" in inner else inner
        return {**inner, **schema_object(rest), "nullable": True}
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key == "const":
            result["enum"] = [value]
        elif key == "type" and not isinstance(value, str):
            raise ValueError(f"a list of types ({value}) has no OpenAPI 3.0 equivalent here")
        elif key == "properties":
            result[key] = {name: schema_object(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS and isinstance(value, dict):
            result[key] = schema_object(value)
        elif key in _SUBSCHEMA_LISTS:
            result[key] = [schema_object(sub) for sub in value]
        elif key in _KEPT or key in _SUBSCHEMAS:
            result[key] = value
        else:
            raise ValueError(f"JSON Schema keyword {key!r} has no OpenAPI 3.0 equivalent here")
    return result
