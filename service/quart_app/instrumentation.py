"""Request hooks for metrics and query recording on the async app (the logic is ``service.observability``)."""

from __future__ import annotations

import os

from quart import Quart, Response, g, request

from service.observability import requests
from service.observability.metrics import get_metrics, mark_process_dead
from service.observability.queries import QueryEvents
from service.quart_app.extension import ServiceSQLAlchemy

_SCOPE = "_observability_scope"


def install(app: Quart, db: ServiceSQLAlchemy) -> None:
    metrics = get_metrics()

    # Registered after the extension's own before_serving hook, so the engine exists by then.
    @app.before_serving
    async def listen() -> None:
        QueryEvents.from_config(metrics, app.config).install(db.engine.sync_engine)

    @app.before_request
    async def begin() -> None:
        setattr(g, _SCOPE, requests.begin())

    @app.after_request
    async def end(response: Response) -> Response:
        requests.after_request(g.get(_SCOPE), metrics, request, response, app.config)
        return response

    @app.after_serving
    async def forget_worker() -> None:
        # In multiprocess mode a stopped worker's "live" gauges (checked-out connections) must stop counting.
        mark_process_dead(os.getpid())
