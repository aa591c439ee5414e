"""The Prometheus metrics of both apps.

They are created on first use (:func:`get_metrics`), not at import. With ``PROMETHEUS_MULTIPROC_DIR`` set in the
environment of the server (before it starts its workers), ``prometheus_client`` keeps every value in per-process
files and :func:`exposition` adds them up, so ``/metrics`` is right whichever worker answers.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.replication.standbys import ERROR, Standbys

# Statements: most are sub-millisecond on a local database; the tail matters up to the statement timeout.
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    query_duration: Histogram
    slow_queries: Counter
    pool_checked_out: Gauge
    pool_timeouts: Counter
    lock_retries: Counter
    lock_conflicts: Counter
    http_requests: Counter
    http_duration: Histogram
    db_reads: Counter
    db_read_fallbacks: Counter
    replica_lag: Gauge
    replica_up: Gauge
    _children: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)

    # RetryObserver: the use cases report each retry and each final loss here.
    def retried(self) -> None:
        self.lock_retries.inc()

    def gave_up(self) -> None:
        self.lock_conflicts.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # labels() hashes and locks on every call; the hot path reuses the child of each label set.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    # RouteMetrics (service.replication.routes): the read-only sessions' targets, the monitor's samples.
    def read_routed(self, to_standby: bool, reason: str | None) -> None:
        self.db_reads.labels("replica" if to_standby else "primary").inc()
        if reason is not None:
            self.db_read_fallbacks.labels(reason).inc()

    def standby_read_failed(self) -> None:
        self.db_read_fallbacks.labels(ERROR).inc()

    def observe_standbys(self, state: Standbys) -> None:
        for standby in state.standbys:
            self.replica_up.labels(standby.name).set(1 if standby.up else 0)
            # A down standby has no lag to speak of: its gauge keeps its last value, replica_up says why.
            if standby.up:
                self.replica_lag.labels(standby.name).set(standby.lag)


@functools.cache
def get_metrics() -> Metrics:
    """The process's metrics, created once (every app built in this process shares them)."""
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        query_duration=Histogram(
            "db_query_duration_seconds",
            "Time of each statement execution (one per executemany batch), from the cursor events.",
            ["kind"],
            buckets=QUERY_BUCKETS,
            registry=registry,
        ),
        slow_queries=Counter(
            "db_slow_queries", "Statements slower than SQLALCHEMY_SLOW_QUERY_THRESHOLD.", registry=registry
        ),
        pool_checked_out=Gauge(
            "db_pool_checked_out",
            "Connections checked out of the pool now (summed over live worker processes).",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        pool_timeouts=Counter(
            "db_pool_timeouts", "Requests that waited longer than DB_POOL_TIMEOUT for a connection.", registry=registry
        ),
        lock_retries=Counter(
            "optimistic_lock_retries", "Units of work run again after losing a version race.", registry=registry
        ),
        lock_conflicts=Counter(
            "optimistic_lock_conflicts", "Units of work that lost every attempt (answered 409).", registry=registry
        ),
        http_requests=Counter(
            "http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=registry,
        ),
        http_duration=Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by route template.",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        ),
        db_reads=Counter(
            "db_reads",
            "Read-only requests' sessions that ran a statement, by target (primary or replica).",
            ["target"],
            registry=registry,
        ),
        db_read_fallbacks=Counter(
            "db_read_fallbacks",
            "Reads sent to the primary although replicas are configured, by reason (behind_token: no replica has"
            " replayed the client's X-Consistency-Token; lagging; down; error: a replica read failed, ran again).",
            ["reason"],
            registry=registry,
        ),
        replica_lag=Gauge(
            "db_replica_lag_seconds",
            "How long each replica has been missing something the primary had (sampled; max over workers).",
            ["replica"],
            multiprocess_mode="livemax",
            registry=registry,
        ),
        replica_up=Gauge(
            "db_replica_up",
            "1 when the replica answered the last sample as a standby (min over workers).",
            ["replica"],
            multiprocess_mode="livemin",
            registry=registry,
        ),
    )


def exposition() -> tuple[bytes, str]:
    """The text exposition and its content type: this process's registry, or every worker's in multiprocess mode."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(get_metrics().registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a stopped worker's live gauges (call at worker shutdown in multiprocess mode)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
