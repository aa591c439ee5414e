"""A read-only session's route: the standby (or the primary) its statements go to, chosen at its first statement.

Both apps' read-only session classes derive from :class:`RoutedSession`; the views ask :func:`standby_failed` when a
read raised, to run it once more on the primary. Chosen at the first statement, not when the session is made:
``/health`` makes a session and never uses it, and must not count as a read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.replication.standbys import Standbys
from service.replication.tokens import parse_token

ROUTE = "read_route"
"""``Session.info`` key of a read-only session's :class:`ReadRoute` (absent: the primary, as without standbys)."""

PRIMARY_ENDPOINTS = frozenset({"ready"})
"""Read-only endpoints that read the primary all the same: ``/ready`` must fail when this server cannot reach the
primary (the load balancer then takes it out), not answer from a standby; and the load balancer's checks are not
reads to count."""


class RouteMetrics(Protocol):
    def read_routed(self, to_standby: bool, reason: str | None) -> None:
        """One read's target; ``reason`` why it went to the primary although standbys are configured."""

    def standby_read_failed(self) -> None:
        """A read on a standby failed and runs again (its rerun counts as a read of its own)."""

    def observe_standbys(self, state: Standbys) -> None: ...


class Router(Protocol):
    """What a route needs of ``_async.router.ReadRouter`` / ``_sync.router.ReadRouter``."""

    @property
    def state(self) -> Standbys: ...

    @property
    def binds(self) -> Sequence[Engine]: ...

    @property
    def metrics(self) -> RouteMetrics | None: ...


class ReadRoute:
    """The choice of one read-only session; ``index`` is the standby's once chosen (``None``: the primary)."""

    __slots__ = ("chosen", "index", "router", "token")

    def __init__(self, router: Router, token: int | None) -> None:
        self.router = router
        self.token = token
        self.chosen = False
        self.index: int | None = None

    def bind(self) -> Engine | None:
        """The standby's engine, or ``None`` for the session's own (the primary's)."""
        if not self.chosen:
            self.chosen = True
            router = self.router
            self.index, reason = router.state.choose(self.token)
            if router.metrics is not None:
                router.metrics.read_routed(self.index is not None, reason)
        return None if self.index is None else self.router.binds[self.index]


def route_read(router: Router, endpoint: str | None, token_header: str | None) -> ReadRoute | None:
    """The route of a read-only request's session on a router with standbys (``None``: the primary, for
    ``endpoint``). The callers look at ``router.standbys`` first, so that reads without standbys build nothing."""
    if endpoint in PRIMARY_ENDPOINTS:
        return None
    return ReadRoute(router, parse_token(token_header))


class RoutedSession(Session):
    """A session whose statements go to the standby its route chose (``info[ROUTE]``), before any other choice of
    engine: first in the bases of both apps' session classes, so that their own ``get_bind`` decides only for the
    primary."""

    def get_bind(
        self,
        mapper: Any | None = None,
        clause: Any | None = None,
        bind: Engine | Connection | None = None,
        **kwargs: Any,
    ) -> Engine | Connection:
        if bind is None:
            route: ReadRoute | None = self.info.get(ROUTE)
            standby = None if route is None else route.bind()
            if standby is not None:
                return standby
        return super().get_bind(mapper, clause=clause, bind=bind, **kwargs)


def standby_failed(info: Mapping[str, Any], exc: BaseException) -> bool:
    """Whether ``exc`` came from the standby this session read from: if so, that standby is marked down (until a
    sample finds it answering) and the read may run again, on the primary, unseen by the client."""
    route: ReadRoute | None = info.get(ROUTE)
    if route is None or route.index is None or not isinstance(exc, DBAPIError | OSError):
        return False
    route.router.state.mark_down(route.index)
    if route.router.metrics is not None:
        route.router.metrics.standby_read_failed()
    return True
