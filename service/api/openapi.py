"""``/openapi.json``: the HTTP contract (API.md) as an OpenAPI 3.0 document, built from the route table.

Every operation lists every status the contract gives it, each with its body's schema and media type
(``application/problem+json`` for errors) and the headers the contract sets (``Location``, ``ETag``, ``X-Request-ID``,
``Retry-After``). Request schemas come from the input models themselves, so they are exactly as strict as the
validation.

Why 3.0 and not 3.1: the input models refuse ``1.0`` where an integer is due. Under 3.1's JSON Schema 2020-12,
``1.0`` *is* an integer, so no 3.1 document can say that; 3.0's draft-4 typing says it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from service.api import request_id
from service.api.oas30 import add_component, model_schema
from service.api.problems import PROBLEM_JSON
from service.api.routes import ROUTES, Route
from service.api.shapes import ID, SHAPES, ref
from service.replication.tokens import TOKEN_PATTERN

OPENAPI_VERSION = "3.0.3"
_PATH_PARAMETER = re.compile(r"<id:([a-z_]+)>")


@dataclass(frozen=True, slots=True)
class Answer:
    """An operation's success (status, body component, headers) and the error statuses particular to it.

    The statuses every operation of a kind answers are added by :func:`error_statuses`.
    """

    summary: str
    status: int
    body: str | None = None
    media_type: str = "application/json"
    location: str | None = None  # the collection a 201's Location names the new member of
    etag: bool = False
    if_match: bool = False
    errors: tuple[int, ...] = ()


ANSWERS: Mapping[str, Answer] = {
    "health": Answer("The process is alive (no database call)", 200, "Health"),
    "ready": Answer("A database round trip succeeds", 200, "Ready"),
    "metrics": Answer("Prometheus metrics of every worker", 200, "Metrics", media_type="text/plain"),
    "create_user": Answer("Register a user", 201, "User", location="/users", errors=(409,)),
    "list_users": Answer("Active, live users, newest first", 200, "UserPage"),
    "lookup_user": Answer("The live user of an email (case-insensitive)", 200, "User", errors=(404,)),
    "bulk_create_users": Answer("Register 1..10000 users, all or nothing", 201, "Inserted", errors=(409,)),
    "get_user": Answer("A live user", 200, "User"),
    "update_user": Answer("Change a user's name, role or active flag", 200, "User"),
    "delete_user": Answer("Soft-delete a user", 204),
    "list_user_notifications": Answer("A live user's notifications, newest first", 200, "NotificationPage"),
    "create_notification": Answer(
        "Create an email or SMS notification", 201, "Notification", location="/notifications"
    ),
    "list_notifications": Answer("Notifications of both kinds (or one), newest first", 200, "NotificationPage"),
    "get_notification": Answer("A notification", 200, "Notification"),
    "create_product": Answer("Create a product (version 1)", 201, "Product", location="/products", etag=True),
    "get_product": Answer("A product", 200, "Product", etag=True),
    "update_product": Answer(
        "Change a product's name or stock", 200, "Product", etag=True, if_match=True, errors=(409, 412)
    ),
    "reserve_product": Answer("Take quantity off a product's stock", 200, "Product", etag=True, errors=(409,)),
}

# Each error status once, as a reusable response (components/responses) with a problem body of that status.
_ERRORS: Mapping[int, str] = {
    400: "Malformed JSON, a body that is not UTF-8, or a malformed query parameter (with `errors`)",
    404: "Unknown or soft-deleted resource, or an id that is no positive 64-bit integer",
    409: "Conflict: a taken email, too little stock, or concurrent writers won every retry",
    412: "If-Match names another version of the product",
    413: "Body over the size limit (MAX_CONTENT_LENGTH, 2 MiB by default)",
    415: "Body sent without a JSON content type",
    422: "Well-formed JSON that fails validation; `errors` says where",
    503: "The database is unreachable or overloaded, or the server is draining: retry after `Retry-After` seconds",
}
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
HEADERS: Mapping[str, dict[str, Any]] = {
    "ETag": {
        "description": "The product's version",
        "required": True,
        "schema": {"type": "string", "pattern": '^"[1-9][0-9]*"$'},
    },
    "Retry-After": {"description": "Seconds", "required": True, "schema": _DIGITS},
    "X-Request-ID": {
        "description": "The request's ID (v1.1): the one it sent when usable, else a new one",
        "required": True,
        "schema": {"type": "string", "pattern": f"^[!-~]{{1,{request_id.MAX_LENGTH}}}$"},
    },
    "X-Consistency-Token": {
        "description": "The point in the primary's history that includes this write (v1.1), opaque: send it back on"
        " a read to be served only by a replica that has replayed it (else by the primary)",
        "required": True,
        "schema": {"type": "string", "pattern": TOKEN_PATTERN},
    },
    "X-Query-Count": {"description": "Statements run for the request (query recording on only)", "schema": _DIGITS},
    "X-Query-Time-Ms": {
        "description": "Their total time in milliseconds (query recording on only)",
        "schema": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{3}$"},
    },
}
REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": f"Echoed on the answer and written in its log lines when 1-{request_id.MAX_LENGTH} visible ASCII "
    "characters; anything else is replaced by a new ID, never refused",
    "schema": {"type": "string"},
}
CONSISTENCY_TOKEN = {
    "name": "X-Consistency-Token",
    "in": "header",
    "required": False,
    "description": "A write's token: the answer reflects at least that write (a replica serves it only if it has"
    " replayed past it, else the primary). Malformed, or ahead of the primary: 400. Without it, a replica up to"
    " DB_REPLICA_MAX_LAG seconds behind may answer",
    "schema": {"type": "string", "pattern": TOKEN_PATTERN},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'Update only version N: `"N"`; `*`, empty or absent: any version; anything else cannot match (412)',
    "schema": {"type": "string"},
}


def error_statuses(route: Route) -> list[int]:
    """Every error status ``route`` can answer: its kind's (body, query, id in the path, database) and its own."""
    statuses = {503, *ANSWERS[route.handler].errors}
    if route.body is not None:
        statuses |= {400, 413, 415, 422}
    if route.query is not None or route.method == "GET":
        statuses.add(400)  # a read's X-Consistency-Token, malformed or from the future
    if _PATH_PARAMETER.search(route.rule):
        statuses.add(404)
    return sorted(statuses)


def openapi_document(routes: Iterable[Route] = ROUTES) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes`` (benchmark-only routes are not part of the contract), a fresh copy."""
    schemas: dict[str, Any] = dict(SHAPES)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.bench_only:
            path = _PATH_PARAMETER.sub(r"{\1}", route.rule)
            paths.setdefault(path, {})[route.method.lower()] = _operation(route, schemas)
    document = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "service",
            "version": "1",
            "description": "The v1 HTTP contract of the async service and of its sync twin, served alike by both.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": {_component_name(status): _error_response(status) for status in _ERRORS},
            "headers": dict(HEADERS),
        },
    }
    # The shapes and headers are module constants shared by every document: a caller may change its own copy.
    return copy.deepcopy(document)


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    answer = ANSWERS[route.handler]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": ID} for name in _PATH_PARAMETER.findall(route.rule)
    ]
    if route.query is not None:
        parameters += _query_parameters(model_schema(route.query, schemas))
    if answer.if_match:
        parameters.append(IF_MATCH)
    parameters.append(REQUEST_ID)
    if route.method == "GET":
        parameters.append(CONSISTENCY_TOKEN)
    operation: dict[str, Any] = {"operationId": route.handler, "summary": answer.summary, "parameters": parameters}
    if route.body is not None:
        add_component(schemas, route.body.__name__, model_schema(route.body, schemas))
        content = {"application/json": {"schema": ref(route.body.__name__)}}
        operation["requestBody"] = {"required": True, "content": content}
    responses = {str(answer.status): _success_response(answer, write=route.method != "GET")}
    for status in error_statuses(route):
        responses[str(status)] = {"$ref": f"#/components/responses/{_component_name(status)}"}
    operation["responses"] = responses
    return operation


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A query model's fields as parameters; absent is how a query says "none", so no ``null`` is documented."""
    parameters = []
    for name, field in schema["properties"].items():
        if field.get("nullable"):
            field = {key: value for key, value in field.items() if key not in {"nullable", "default"}}
            field = field["allOf"][0] if list(field) == ["allOf"] else field
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", ()), "schema": field}
        parameters.append(parameter)
    return parameters


def _success_response(answer: Answer, *, write: bool) -> dict[str, Any]:
    response: dict[str, Any] = {"description": HTTPStatus(answer.status).phrase, "headers": _response_headers()}
    if write:
        response["headers"]["X-Consistency-Token"] = {"$ref": "#/components/headers/X-Consistency-Token"}
    if answer.body is not None:
        response["content"] = {answer.media_type: {"schema": ref(answer.body)}}
    if answer.location is not None:
        response["headers"]["Location"] = {
            "description": "The new resource",
            "required": True,
            "schema": {"type": "string", "pattern": f"^{answer.location}/[1-9][0-9]*$"},
        }
    if answer.etag:
        response["headers"]["ETag"] = {"$ref": "#/components/headers/ETag"}
    return response


def _error_response(status: int) -> dict[str, Any]:
    problem: dict[str, Any] = {"properties": {"status": {"type": "integer", "enum": [status]}}}
    if status == 422:
        problem["required"] = ["errors"]
    headers = _response_headers()
    if status == 503:
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    return {
        "description": _ERRORS[status],
        "headers": headers,
        "content": {PROBLEM_JSON: {"schema": {"allOf": [ref("Problem"), problem]}}},
    }


def _response_headers() -> dict[str, Any]:
    """The headers of every answer."""
    return {
        name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", "X-Query-Count", "X-Query-Time-Ms")
    }


def _component_name(status: int) -> str:
    return HTTPStatus(status).phrase.replace(" ", "")
