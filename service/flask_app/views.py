"""Adapt :data:`service.api.routes.ROUTES` to Flask: validation, the request session, replies and problems.

This mirrors ``service.quart_app.views`` step for step; where quart-schema does the work there, :func:`load_input`
does the same here (same order, same pydantic call, same errors), so both apps answer a request identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from service.api import problems
from service.api._sync import handlers
from service.api.routes import Call, Reply, Route, served_routes
from service.config import Settings
from service.db.read_only import can_run_again, is_read_only_method
from service.flask_app.extension import ServiceSQLAlchemy
from service.observability.metrics import get_metrics
from service.observability.requests import count_failure
from service.replication.routes import standby_failed
from service.replication.tokens import HEADER
from service.retry import RetryObserver

Handler = Callable[[Session, Call], Reply]
View = Callable[..., Response]


class InvalidInput(Exception):
    """Input that failed its model; carries the problem, as quart-schema's ``RequestSchemaValidationError`` does."""

    def __init__(self, problem: problems.Problem) -> None:
        super().__init__(problem.body["detail"])
        self.problem = problem


def to_response(
    app: Flask, status: int, body: Any, headers: Mapping[str, str], content_type: str = "application/json"
) -> Response:
    """A JSON response, or an empty one without ``Content-Type`` when ``body`` is ``None`` (204)."""
    if body is None:
        response = app.response_class(b"", status=status, headers=dict(headers))
        del response.headers["Content-Type"]
        return response
    data = body if isinstance(body, bytes) else app.json.dumps(body)
    return app.response_class(data, status=status, headers=dict(headers), content_type=content_type)


def problem_response(app: Flask, exc: BaseException) -> Response:
    """Any exception as ``application/problem+json``; needs no request or app context (teardown failures)."""
    if isinstance(exc, InvalidInput):
        problem = exc.problem
    else:
        problem = problems.for_exception(exc, app.config["SERVICE_SETTINGS"].retry_after_seconds)
    return to_response(app, problem.status, problem.body, problem.headers, problems.PROBLEM_JSON)


def query_args(args: MultiDict[str, str]) -> dict[str, Any]:
    """The query string as quart-schema's ``validate_querystring`` reads it: a repeated key (or ``key[]``) is a list.

    ``args.to_dict()`` would keep the first of ``?page=1&page=2`` where the async app refuses it (400).
    """
    data: dict[str, Any] = {}
    for key in args:
        values = args.getlist(key)
        if key.endswith("[]"):
            data[key.removesuffix("[]")] = values
        else:
            data[key] = values if len(values) > 1 else values[0]
    return data


def load_input(model: type[BaseModel], data: Any, *, query: bool) -> Any:
    """Validate like quart-schema's ``model_load`` (its ``TypeAdapter(model).validate_python`` is this same call).

    A pydantic error is the contract's 422 (body) or 400 (query); quart-schema turns any other ``TypeError`` or
    ``ValueError`` into a plain 400, and so does this.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems.for_validation(exc, query=query)) from None
    except (TypeError, ValueError):
        raise BadRequest() from None


def json_body() -> Any:
    """``request.get_json()``, with a chunked body over MAX_CONTENT_LENGTH refused (413) as the async app does.

    Werkzeug stops reading a body of unknown length at the limit and hands on what it read (``LimitedStream.readall``
    in werkzeug/wsgi.py): truncated JSON, a 400. One more byte on the input tells it was cut.
    """
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()
    return request.get_json()


def _view(route: Route, db: ServiceSQLAlchemy, observer: RetryObserver | None) -> View:
    handler: Handler = getattr(handlers, route.handler)

    def view(**params: int) -> Response:
        body = query = None
        # The order of the async app's decorators: 415, then the body, then the query string.
        if route.body is not None:
            if not request.is_json:
                raise UnsupportedMediaType()
            body = load_input(route.body, json_body(), query=False)
        if route.query is not None:
            query = load_input(route.query, query_args(request.args), query=True)
        call = Call(
            params=params,
            body=body,
            query=query,
            headers=dict(request.headers),
            policy=current_app.config["RETRY_POLICY"],
            observer=observer,
        )
        read_only = is_read_only_method(request.method)
        token = request.headers.get(HEADER)
        if read_only and token is not None:
            db.router().check_token(token)
        try:
            reply = handler(db.session(), call)
        except (DBAPIError, OSError) as exc:
            if not (standby_failed(db.session().info, exc) or can_run_again(request.method, exc)):
                raise
            # Its connection is gone (or its standby failed): the next db.session() checks out a live one, and a
            # standby marked down is not chosen again.
            db.session.remove()
            reply = handler(db.session(), call)
        headers = dict(reply.headers)
        if not read_only and reply.status < 300:
            headers[HEADER] = db.router().commit_token()
        return to_response(current_app, reply.status, reply.body, headers, reply.content_type)

    view.__name__ = route.handler
    view.__doc__ = handler.__doc__
    return view


def register_routes(app: Flask, db: ServiceSQLAlchemy, settings: Settings) -> None:
    """Every route of the contract, with the sync handler of the same name."""
    observer = get_metrics() if settings.metrics_enabled else None
    for route in served_routes(settings.bench_endpoints):
        app.add_url_rule(
            route.rule, endpoint=route.handler, view_func=_view(route, db, observer), methods=[route.method]
        )


def register_error_handlers(app: Flask) -> None:
    """One last-resort handler: every exception (HTTP errors included) becomes problem+json."""

    def handle(exc: Exception) -> Response:
        count_failure(get_metrics(), exc)
        return problem_response(app, exc)

    app.register_error_handler(Exception, handle)
