"""/openapi.json (no database): a valid OpenAPI 3.0 document that states API.md, and the answers fit its schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError
from schemathesis.specs.openapi import definitions

from service import schemas
from service.api import problems
from service.api.oas30 import model_schema, schema_object
from service.api.openapi import ANSWERS, OPENAPI_VERSION, openapi_document
from service.api.routes import ROUTES
from service.db import models
from service.errors import ValidationFailed
from service.quart_sqlalchemy.pagination import Pagination
from tests.support.openapi import as_draft4

# API.md, operation by operation: every status each one answers (503 everywhere: the database is down, the pool is
# exhausted or the server is draining; 400/413/415/422 wherever there is a body, 400 with a query, 404 with an id;
# v1.1: 400 on every read, for a malformed X-Consistency-Token or one ahead of the primary).
CONTRACT: dict[str, set[int]] = {
    "GET /health": {200, 400, 503},
    "GET /ready": {200, 400, 503},
    "GET /metrics": {200, 400, 503},
    "POST /users": {201, 400, 409, 413, 415, 422, 503},
    "GET /users": {200, 400, 503},
    "GET /users/lookup": {200, 400, 404, 503},
    "POST /users/bulk": {201, 400, 409, 413, 415, 422, 503},
    "GET /users/{user_id}": {200, 400, 404, 503},
    "PATCH /users/{user_id}": {200, 400, 404, 413, 415, 422, 503},
    "DELETE /users/{user_id}": {204, 404, 503},
    "GET /users/{user_id}/notifications": {200, 400, 404, 503},
    "POST /notifications": {201, 400, 413, 415, 422, 503},
    "GET /notifications": {200, 400, 503},
    "GET /notifications/{notification_id}": {200, 400, 404, 503},
    "POST /products": {201, 400, 413, 415, 422, 503},
    "GET /products/{product_id}": {200, 400, 404, 503},
    "PATCH /products/{product_id}": {200, 400, 404, 409, 412, 413, 415, 422, 503},
    "POST /products/{product_id}/reserve": {200, 400, 404, 409, 413, 415, 422, 503},
}
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = document["components"][kind][name]
    return node


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """``schema`` as Schemathesis reads it: draft 4, 3.0's ``nullable``, formats checked."""
    return jsonschema_rs.Draft4Validator(
        {**as_draft4(schema), "components": as_draft4(document["components"])}, validate_formats=True
    )


def _body_schema(document: dict[str, Any], operation: str, status: int, media_type: str) -> dict[str, Any]:
    response = _resolve(document, _operations(document)[operation]["responses"][str(status)])
    return dict(response["content"][media_type]["schema"])


def test_the_document_is_valid_openapi_3_0(document: dict[str, Any]) -> None:
    assert document["openapi"] == OPENAPI_VERSION
    definitions.OPENAPI_30_VALIDATOR.validate(document)


def test_every_operation_answers_what_the_contract_says(document: dict[str, Any]) -> None:
    statuses = {name: {int(code) for code in op["responses"]} for name, op in _operations(document).items()}
    assert statuses == CONTRACT


def test_every_route_of_the_contract_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    assert set(ANSWERS) == {route.handler for route in ROUTES if not route.bench_only}
    assert {op["operationId"] for op in _operations(document).values()} == set(ANSWERS)
    assert "/bench/latency" not in document["paths"]


def test_bodies_are_required_json_and_their_schemas_are_the_input_models(document: dict[str, Any]) -> None:
    operations = _operations(document)
    with_bodies = [(route, route.body) for route in ROUTES if route.body is not None and not route.bench_only]
    assert with_bodies, "no route takes a body"  # else the loop checks nothing
    for route, body in with_bodies:
        operation = operations[f"{route.method} {route.rule.replace('<id:', '{').replace('>', '}')}"]
        assert operation["requestBody"]["required"] is True
        assert operation["requestBody"]["content"] == {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
        }


def test_parameters(document: dict[str, Any]) -> None:
    operations = _operations(document)
    lookup = {p["name"]: p for p in operations["GET /users/lookup"]["parameters"]}
    assert lookup["email"]["required"] is True
    listing = {p["name"]: p for p in operations["GET /notifications"]["parameters"]}
    assert not any(p["required"] for p in listing.values())
    # Absent is how a query says "any type": there is no null to send.
    assert listing["type"]["schema"] == {"type": "string", "enum": ["email", "sms"]}
    user_id, request_id = operations["DELETE /users/{user_id}"]["parameters"]
    assert user_id["in"] == "path"
    assert (request_id["name"], request_id["in"], request_id["required"]) == ("X-Request-ID", "header", False)
    assert user_id["schema"] == {"type": "integer", "minimum": 1, "maximum": schemas.INT64_MAX}
    if_match = {p["name"]: p for p in operations["PATCH /products/{product_id}"]["parameters"]}["If-Match"]
    assert (if_match["in"], if_match["required"]) == ("header", False)


def test_headers_the_contract_sets_are_required(document: dict[str, Any]) -> None:
    operations = _operations(document)

    def headers(operation: str, status: int) -> dict[str, Any]:
        response = _resolve(document, operations[operation]["responses"][str(status)])
        return {name: _resolve(document, header) for name, header in response["headers"].items()}

    for operation in ("POST /users", "POST /notifications", "POST /products"):
        assert headers(operation, 201)["Location"]["required"] is True
    for operation in ("POST /products", "GET /products/{product_id}", "PATCH /products/{product_id}"):
        status = 201 if operation.startswith("POST") else 200
        assert headers(operation, status)["ETag"]["required"] is True
    for operation in CONTRACT:
        assert headers(operation, 503)["Retry-After"]["required"] is True
        assert headers(operation, 503)["X-Query-Count"].get("required", False) is False
        # v1.1: every answer names its request, errors included.
        assert all(
            headers(operation, int(status))["X-Request-ID"]["required"] for status in operations[operation]["responses"]
        )
    assert "content" not in _resolve(document, operations["DELETE /users/{user_id}"]["responses"]["204"])
    # v1.1: every committed write names its point in the primary's history; every read may send one back.
    for operation, op in operations.items():
        success = next(status for status in op["responses"] if status.startswith("2"))
        token = headers(operation, int(success)).get("X-Consistency-Token")
        parameters = {p["name"] for p in op["parameters"]}
        if operation.startswith("GET"):
            assert token is None, operation
            assert "X-Consistency-Token" in parameters, operation
        else:
            assert token is not None, operation
            assert token["required"] is True
            assert re.match(token["schema"]["pattern"], "1.30003a8")
            assert "X-Consistency-Token" not in parameters, operation


def _user() -> models.User:
    return models.User(
        id=7, email="ada@example.com", name="Ada", role="member", is_active=True, created_at=NOW, updated_at=NOW
    )


def _notifications() -> list[models.Notification]:
    return [
        models.EmailNotification(id=1, type="email", message="hi", user_id=7, email_address="a@b.co", created_at=NOW),
        models.SMSNotification(id=2, type="sms", message="hi", user_id=None, phone_number="+1 555", created_at=NOW),
    ]


def _product() -> models.Product:
    return models.Product(id=3, name="widget", stock=0, version_id=1, created_at=NOW, updated_at=NOW)


@pytest.mark.parametrize(
    ("operation", "status", "body"),
    [
        ("GET /users/{user_id}", 200, lambda: schemas.user_out(_user())),
        ("GET /notifications/{notification_id}", 200, lambda: schemas.notification_out(_notifications()[0])),
        ("GET /notifications/{notification_id}", 200, lambda: schemas.notification_out(_notifications()[1])),
        ("GET /products/{product_id}", 200, lambda: schemas.product_out(_product())),
        (
            "GET /users",
            200,
            lambda: schemas.page_out(Pagination([_user()], page=2, per_page=1, total=3), schemas.user_out),
        ),
        (
            "GET /notifications",
            200,
            lambda: schemas.page_out(Pagination(_notifications(), 1, 20, 2), schemas.notification_out),
        ),
        ("GET /users", 200, lambda: schemas.page_out(Pagination([], 9, 20, 0), schemas.user_out)),
        ("POST /users/bulk", 201, lambda: {"inserted": 2}),
        ("GET /health", 200, lambda: {"status": "ok"}),
        ("GET /ready", 200, lambda: {"status": "ready"}),
    ],
)
def test_answers_fit_their_schemas(document: dict[str, Any], operation: str, status: int, body: Any) -> None:
    validator = _validator(document, _body_schema(document, operation, status, "application/json"))
    validator.validate(body())


def test_answers_with_another_field_or_a_wrong_type_do_not_fit(document: dict[str, Any]) -> None:
    validator = _validator(document, _body_schema(document, "GET /users/{user_id}", 200, "application/json"))
    user = schemas.user_out(_user())
    assert not validator.is_valid({**user, "deleted_at": None})
    assert not validator.is_valid({**user, "id": "7"})
    assert not validator.is_valid({**user, "created_at": "yesterday"})
    notification = _validator(document, _body_schema(document, "GET /notifications", 200, "application/json"))
    email = schemas.notification_out(_notifications()[0])
    assert not notification.is_valid({"items": [{**email, "type": "sms"}]})


def _invalid(model: type[BaseModel], data: Any) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return raised.value


@pytest.mark.parametrize(
    ("operation", "problem"),
    [
        ("POST /users", problems.for_validation(_invalid(schemas.UserCreate, {"name": 1}), query=False)),
        ("POST /users/bulk", problems.for_validation(_invalid(schemas.UsersBulk, [{}]), query=False)),
        ("GET /users", problems.for_validation(_invalid(schemas.PageQuery, {"page": "x"}), query=True)),
        ("POST /notifications", problems.for_exception(ValidationFailed("gone", [{"loc": ["user_id"], "msg": "no"}]))),
        ("POST /users", problems.problem(400, "malformed request")),
        ("POST /users", problems.problem(409, "a user with this email already exists")),
        ("PATCH /products/{product_id}", problems.problem(412, "the product is at version 2, not 1")),
        ("POST /users", problems.problem(413, "request body too large")),
        ("GET /users/{user_id}", problems.problem(404, "no such resource")),
        ("GET /ready", problems.for_exception(TimeoutError(), retry_after=3)),
    ],
)
def test_problems_fit_their_schemas(document: dict[str, Any], operation: str, problem: problems.Problem) -> None:
    validator = _validator(document, _body_schema(document, operation, problem.status, problems.PROBLEM_JSON))
    body = problem.body
    validator.validate(body)
    assert not validator.is_valid({**body, "status": 418})
    if problem.status == 422:
        assert not validator.is_valid({key: value for key, value in body.items() if key != "errors"})


def test_model_schema_speaks_3_0() -> None:
    components: dict[str, Any] = {}
    schema = model_schema(schemas.NotificationCreate, components)
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(components) == {"EmailNotificationCreate", "SMSNotificationCreate"}
    email = components["EmailNotificationCreate"]
    assert email["properties"]["type"] == {"type": "string", "enum": ["email"]}
    assert email["properties"]["user_id"]["nullable"] is True
    assert "title" not in email


@pytest.mark.parametrize(
    "schema",
    [
        {"type": ["string", "null"]},
        {"prefixItems": [{"type": "string"}]},
        {"properties": {"a": {"exclusiveMinimum": 0}}},
    ],
)
def test_schema_object_refuses_what_3_0_cannot_say(schema: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"OpenAPI 3\.0"):
        schema_object(schema)


def test_a_nullable_reference_is_wrapped() -> None:
    converted = schema_object({"anyOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}], "default": None})
    assert converted == {"allOf": [{"$ref": "#/components/schemas/X"}], "default": None, "nullable": True}
