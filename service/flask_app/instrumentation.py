"""Request hooks for metrics and query recording on the sync twin (the logic is ``service.observability``)."""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_sqlalchemy import SQLAlchemy

from service.observability import requests
from service.observability.metrics import get_metrics
from service.observability.queries import QueryEvents

_SCOPE = "_observability_scope"


def install(app: Flask, db: SQLAlchemy) -> None:
    metrics = get_metrics()
    with app.app_context():
        # Flask-SQLAlchemy builds the engine in init_app without connecting; the same listeners as the async app.
        QueryEvents.from_config(metrics, app.config).install(db.engine)

    @app.before_request
    def begin() -> None:
        setattr(g, _SCOPE, requests.begin())

    @app.after_request
    def end(response: Response) -> Response:
        requests.after_request(g.get(_SCOPE), metrics, request, response, app.config)
        return response
