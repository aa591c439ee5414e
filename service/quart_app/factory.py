"""``create_app``: configuration from the environment, the SQLAlchemy extension, routes and error handling."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Quart, Request
from quart_schema import QuartSchema
from quart_schema.openapi import OpenAPIProvider

from service.api import problems
from service.api.appconfig import configure_url_map, shared_config
from service.api.jsoncodec import StrictJSONProvider
from service.api.openapi import openapi_document
from service.config import Settings, settings_or_exit
from service.db.engine import async_engine_options
from service.heap import freeze_startup_heap
from service.quart_app import instrumentation
from service.quart_app.extension import ServiceSQLAlchemy
from service.quart_app.request_id import RequestIdMiddleware
from service.quart_app.shutdown import CancelledRequestGuard, quiet_loop_errors
from service.quart_app.unread_body import UnreadBodyGuard
from service.quart_app.views import problem_response, register_error_handlers, register_routes


class ServiceQuart(Quart):
    """Quart whose requests always end in a problem+json answer, even when a teardown function raises.

    Quart lets an exception from a teardown escape ``handle_request``; the ASGI layer then answers with a debug
    traceback (debug on) or the server's bare 500 (debug off). Neither is the contract.
    """

    async def handle_request(self, request: Request) -> Any:
        try:
            return await super().handle_request(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            settings: Settings = self.config["SERVICE_SETTINGS"]
            # No context is pushed here: pushing one would run the failing teardown again.
            return problem_response(problems.for_exception(exc, settings.retry_after_seconds), app=self)


class ContractOpenAPI(OpenAPIProvider):
    """``/openapi.json`` is the contract's own document (:mod:`service.api.openapi`), the same for the twin.

    quart-schema's would be inferred from the views: no responses, no required bodies, and 3.1 typing.
    """

    def schema(self) -> dict[str, Any]:
        return openapi_document()


def create_app(settings: Settings | None = None) -> Quart:
    """Build the async app; with no argument every setting comes from the environment."""
    settings = settings if settings is not None else settings_or_exit()
    app = ServiceQuart("service", static_folder=None)
    configure_url_map(app.url_map)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=async_engine_options(settings),
        SQLALCHEMY_REPLICA_ENGINE_OPTIONS=async_engine_options(settings.for_standbys()),
        **shared_config(settings),
    )
    db = ServiceSQLAlchemy(app)
    QuartSchema(
        app,
        openapi_path="/openapi.json",
        swagger_ui_path="/docs",
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=ContractOpenAPI,
    )
    # After QuartSchema, which installs a provider of its own; responses here are plain dicts anyway.
    app.json = StrictJSONProvider(app)
    register_routes(app, db, settings)
    register_error_handlers(app, settings)
    if settings.metrics_enabled:
        instrumentation.install(app, db)
    # Inside the cancellation guard: a request cancelled at shutdown gets its 503 at once, without waiting on a body.
    app.asgi_app = UnreadBodyGuard(app.asgi_app, settings.max_content_length)  # type: ignore[method-assign,assignment]
    app.asgi_app = CancelledRequestGuard(app.asgi_app, settings.retry_after_seconds)  # type: ignore[method-assign,assignment]
    # Outermost: every answer above carries the request's X-Request-ID, and every log line of the request names it.
    app.asgi_app = RequestIdMiddleware(app.asgi_app)  # type: ignore[method-assign,assignment]

    @app.before_serving
    async def quiet_loop() -> None:
        quiet_loop_errors(asyncio.get_running_loop())

    if settings.gc_freeze:
        # Registered last: the extension's engines and the instrumentation exist by then.
        @app.before_serving
        async def freeze_heap() -> None:
            freeze_startup_heap()

    return app
