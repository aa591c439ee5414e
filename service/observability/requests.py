"""Per-request instrumentation, the same for both apps: HTTP metrics, query counting, X-Query-* headers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.observability.metrics import Metrics
from service.observability.queries import RequestQueries, finish_request, start_request

UNMATCHED_ROUTE = "<unmatched>"


@dataclass(slots=True)
class RequestScope:
    started: float
    queries: RequestQueries


def begin() -> RequestScope:
    """Call first thing in a request (``before_request``)."""
    return RequestScope(time.perf_counter(), start_request())


def end(
    scope: RequestScope,
    metrics: Metrics,
    *,
    method: str,
    route: str | None,
    status: int,
    record_queries: bool,
    slow_threshold: float,
) -> dict[str, str]:
    """Observe the request; return the headers to add (``X-Query-*`` while query recording is on)."""
    # The route template, never the raw path: ids in label values would explode the series count.
    metrics.observe_request(method, route or UNMATCHED_ROUTE, status, time.perf_counter() - scope.started)
    if not record_queries:
        return {}
    return finish_request(scope.queries, slow_threshold)


class WebRequest(Protocol):
    """What both frameworks' request objects offer (Werkzeug's API)."""

    method: str
    url_rule: Any


class WebResponse(Protocol):
    status_code: int
    headers: Any


def after_request(
    scope: RequestScope | None, metrics: Metrics, request: WebRequest, response: WebResponse, config: Mapping[str, Any]
) -> None:
    """The ``after_request`` hook of both apps: observe the request, add the ``X-Query-*`` headers."""
    if scope is None:  # a request that failed before its before_request hooks ran
        return
    response.headers.update(
        end(
            scope,
            metrics,
            method=request.method,
            route=request.url_rule.rule if request.url_rule is not None else None,
            status=response.status_code,
            record_queries=config["SQLALCHEMY_RECORD_QUERIES"],
            slow_threshold=config["SQLALCHEMY_SLOW_QUERY_THRESHOLD"],
        )
    )


def count_failure(metrics: Metrics, exc: BaseException) -> None:
    """Failures worth a metric of their own (called by both apps' error handlers)."""
    if isinstance(exc, PoolTimeout):
        metrics.pool_timeouts.inc()
