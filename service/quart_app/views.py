"""Adapt :data:`service.api.routes.ROUTES` to Quart: quart-schema validation, the request session, replies."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, current_app, request
from quart_schema import validate_querystring, validate_request
from quart_schema.validation import QuerystringValidationError, RequestSchemaValidationError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from service.api import problems
from service.api._async import handlers
from service.api.routes import Call, Reply, Route, served_routes
from service.config import Settings
from service.db.read_only import can_run_again, is_read_only_method
from service.observability.metrics import get_metrics
from service.observability.requests import count_failure
from service.quart_app.extension import ServiceSQLAlchemy
from service.replication.routes import standby_failed
from service.replication.tokens import HEADER
from service.retry import RetryObserver

Handler = Callable[..., Awaitable[Reply]]
View = Callable[..., Awaitable[Response]]


def to_response(
    status: int, body: Any, headers: Any, content_type: str = "application/json", app: Quart | None = None
) -> Response:
    if body is None:
        response = Response(b"", status=status, headers=headers)
        del response.headers["Content-Type"]
        return response
    if isinstance(body, bytes):
        return Response(body, status=status, headers=headers, content_type=content_type)
    dumps = (app or current_app).json.dumps
    return Response(dumps(body), status=status, headers=headers, content_type=content_type)


def _require_json(view: View) -> View:
    """415 for a body not declared JSON (Quart would hand ``None`` on), 400 for one that is not UTF-8."""

    @functools.wraps(view)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        if not request.is_json:
            raise UnsupportedMediaType()
        try:
            # Quart decodes outside its JSON error handling: a bad byte would surface as an unhandled error.
            body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest() from None
        return await view(*args, **kwargs)

    return wrapper


def _view(route: Route, db: ServiceSQLAlchemy, observer: RetryObserver | None) -> View:
    handler: Handler = getattr(handlers, route.handler)

    async def view(**kwargs: Any) -> Response:
        call = Call(
            params=kwargs,
            body=kwargs.pop("data", None),
            query=kwargs.pop("query_args", None),
            headers=dict(request.headers),
            policy=current_app.config["RETRY_POLICY"],
            observer=observer,
        )
        read_only = is_read_only_method(request.method)
        token = request.headers.get(HEADER)
        if read_only and token is not None:
            await db.router().check_token(token)
        try:
            reply = await handler(db.session, call)
        except (DBAPIError, OSError) as exc:
            if not (standby_failed(db.session.info, exc) or can_run_again(request.method, exc)):
                raise
            # Its connection is gone (or its standby failed): the next db.session checks out a live one, and a
            # standby marked down is not chosen again.
            await db.remove_session()
            reply = await handler(db.session, call)
        headers = dict(reply.headers)
        if not read_only and reply.status < 300:
            headers[HEADER] = await db.router().commit_token()
        return to_response(reply.status, reply.body, headers, reply.content_type)

    view.__name__ = route.handler
    view.__doc__ = handler.__doc__
    wrapped: View = view
    if route.query is not None:
        wrapped = validate_querystring(route.query)(wrapped)
    if route.body is not None:
        wrapped = _require_json(validate_request(route.body)(wrapped))
    return wrapped


def register_routes(app: Quart, db: ServiceSQLAlchemy, settings: Settings) -> None:
    observer = get_metrics() if settings.metrics_enabled else None
    for route in served_routes(settings.bench_endpoints):
        app.add_url_rule(
            route.rule, endpoint=route.handler, view_func=_view(route, db, observer), methods=[route.method]
        )


def problem_response(problem: problems.Problem, app: Quart | None = None) -> Response:
    return to_response(problem.status, problem.body, dict(problem.headers), problems.PROBLEM_JSON, app)


def register_error_handlers(app: Quart, settings: Settings) -> None:
    """One last-resort handler: every exception becomes problem+json, whatever the debug setting."""

    async def handle(exc: Exception) -> Response:
        count_failure(get_metrics(), exc)
        if isinstance(exc, RequestSchemaValidationError) and isinstance(exc.validation_error, ValidationError):
            query = isinstance(exc, QuerystringValidationError)
            return problem_response(problems.for_validation(exc.validation_error, query=query))
        return problem_response(problems.for_exception(exc, settings.retry_after_seconds))

    app.register_error_handler(Exception, handle)
