"""The route table of the v1 contract, shared by both apps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from service import schemas
from service.retry import RetryObserver, RetryPolicy


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    rule: str
    handler: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # Served only with BENCH_ENDPOINTS=1 (load tests, fault tests); not part of the contract.
    bench_only: bool = False


# <id:...> is service.api.converters.IdConverter: a positive 64-bit integer, anything else is a 404.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health"),
    Route("GET", "/ready", "ready"),
    Route("GET", "/metrics", "metrics"),
    Route("POST", "/users", "create_user", body=schemas.UserCreate),
    Route("GET", "/users", "list_users", query=schemas.PageQuery),
    Route("GET", "/users/lookup", "lookup_user", query=schemas.EmailQuery),
    Route("POST", "/users/bulk", "bulk_create_users", body=schemas.UsersBulk),
    Route("GET", "/users/<id:user_id>", "get_user"),
    Route("PATCH", "/users/<id:user_id>", "update_user", body=schemas.UserUpdate),
    Route("DELETE", "/users/<id:user_id>", "delete_user"),
    Route("GET", "/users/<id:user_id>/notifications", "list_user_notifications", query=schemas.PageQuery),
    Route("POST", "/notifications", "create_notification", body=schemas.NotificationCreate),
    Route("GET", "/notifications", "list_notifications", query=schemas.NotificationPageQuery),
    Route("GET", "/notifications/<id:notification_id>", "get_notification"),
    Route("POST", "/products", "create_product", body=schemas.ProductCreate),
    Route("GET", "/products/<id:product_id>", "get_product"),
    Route("PATCH", "/products/<id:product_id>", "update_product", body=schemas.ProductUpdate),
    Route("POST", "/products/<id:product_id>/reserve", "reserve_product", body=schemas.Reserve),
    Route("GET", "/bench/latency", "bench_latency", query=schemas.LatencyQuery, bench_only=True),
)


def served_routes(bench_endpoints: bool) -> tuple[Route, ...]:
    """The routes an app registers: the contract, plus the benchmark-only ones when enabled."""
    return tuple(route for route in ROUTES if bench_endpoints or not route.bench_only)


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets from the web layer besides the session: validated input and request settings."""

    params: Mapping[str, int] = field(default_factory=dict)
    body: Any = None
    query: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    observer: RetryObserver | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer: a JSON-able ``body`` (or ``bytes`` sent as ``content_type``), or ``None`` for no body."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
