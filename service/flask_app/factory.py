"""``create_app``: configuration from the environment, Flask-SQLAlchemy, routes and error handling."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response
from flask.signals import appcontext_tearing_down, got_request_exception

from service.api.appconfig import configure_url_map, shared_config
from service.api.jsoncodec import StrictJSONProvider
from service.config import Settings, settings_or_exit
from service.db.engine import sync_engine_options, sync_url
from service.flask_app import instrumentation
from service.flask_app.extension import make_db
from service.flask_app.request_id import RequestIdMiddleware
from service.flask_app.unread_body import UnreadBodyGuard
from service.flask_app.views import problem_response, register_error_handlers, register_routes
from service.heap import freeze_startup_heap

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


class ServiceFlask(Flask):
    """Flask, with every failure answered as problem+json, whatever ``DEBUG``/``TESTING``/``PROPAGATE_EXCEPTIONS``.

    The error handler registered for ``Exception`` covers the view and its hooks; this class covers the three
    places Flask would otherwise re-raise, log a traceback, or leave the WSGI server to send its HTML 500.
    """

    json_provider_class = StrictJSONProvider

    def handle_exception(self, e: Exception) -> Response:
        """A failure outside the error handler's reach (an ``after_request`` hook, the handler itself): a problem.

        Flask's version re-raises under debug/testing and logs the traceback; neither may happen here.
        """
        got_request_exception.send(self, _async_wrapper=self.ensure_sync, exception=e)
        response = problem_response(self, e)
        try:
            return self.finalize_request(response)
        except Exception as again:
            # The hooks failed on the problem too; Flask would log that with a traceback. Send the problem as is.
            log.error("finalizing an error response failed: %s", type(again).__name__)
            return response

    def do_teardown_appcontext(self, exc: BaseException | None = None) -> None:
        """Run every teardown even when one raises, then re-raise the first failure.

        Flask stops at the first raising function, and Flask-SQLAlchemy's session removal (registered first, so
        run last) would be skipped: the session and its connection would stay checked out.
        """
        failure: Exception | None = None
        for func in reversed(self.teardown_appcontext_funcs):
            try:
                self.ensure_sync(func)(exc)
            except Exception as error:
                failure = failure or error
        appcontext_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)
        if failure is not None:
            raise failure

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Flask's ``wsgi_app``, with the status line held back until the teardowns have run.

        Flask starts the response and only then pops the contexts; a teardown that raises there would reach the
        WSGI server, which answers with its own HTML 500. Holding ``start_response`` back lets a problem+json 500
        take the response's place instead, on any server and in Flask's test client alike.
        """
        started: list[tuple[str, list[tuple[str, str]], Any]] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            started.append((status, headers, exc_info))
            return _no_write

        try:
            body = super().wsgi_app(environ, hold)
        except Exception as exc:
            return problem_response(self, exc)(environ, start_response)
        start_response(*started[-1])
        return body


def _no_write(data: bytes) -> object:
    # The legacy write() callable: Flask returns its body as an iterable and never calls it.
    raise RuntimeError("write() is not supported; return the body instead")


def create_app(settings: Settings | None = None) -> Flask:
    """Build the sync twin; with no argument every setting comes from the environment. Nothing connects here."""
    settings = settings if settings is not None else settings_or_exit()
    app = ServiceFlask("service", static_folder=None)
    configure_url_map(app.url_map)
    app.config.update(
        # Flask-SQLAlchemy is handed a string; str(URL) would mask the password as "***".
        SQLALCHEMY_DATABASE_URI=sync_url(settings.database_url).render_as_string(hide_password=False),
        SQLALCHEMY_ENGINE_OPTIONS=sync_engine_options(settings),
        SQLALCHEMY_REPLICA_ENGINE_OPTIONS=sync_engine_options(settings.for_standbys()),
        **shared_config(settings),
    )
    db = make_db()
    db.init_app(app)
    register_routes(app, db, settings)
    register_error_handlers(app)
    if settings.metrics_enabled:
        instrumentation.install(app, db)
    app.wsgi_app = UnreadBodyGuard(app.wsgi_app, settings.max_content_length)  # type: ignore[method-assign]
    # Outermost: every answer above carries the request's X-Request-ID, and every log line of the request names it.
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    if settings.gc_freeze:
        # Each Gunicorn worker builds its own app (no preload): this runs in the worker, after start-up.
        freeze_startup_heap()
    return app
