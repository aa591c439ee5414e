"""Settings read from the environment.

Nothing is read at import: :func:`load_settings` is called by the app factories (and by tests, with an explicit
mapping), and every bad variable is reported by name so a deployment fails at start with a clear message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from service.retry import RetryPolicy

T = TypeVar("T")

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable, never its secret value."""


WAITERS_PER_CONNECTION = 4


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """SQLAlchemy QueuePool settings (the seed's ``SQLALCHEMY_ENGINE_OPTIONS``)."""

    pool_size: int = 10
    max_overflow: int = 20
    pool_timeout: float = 30.0
    pool_recycle: int = 1800
    pool_pre_ping: bool = True
    ping_window: float = 0.5
    """Seconds after its check-in during which a connection is handed out without a ping (0: always ping)."""
    max_waiters: int | None = None
    """Async pool: a checkout queued behind this many others fails at once, 503 (0: no bound; service.db.pool).

    ``None``: :data:`WAITERS_PER_CONNECTION` per connection the pool may open. A request queued that deep waits
    about four times a request's own time for its connection; deeper, it is better told to retry (elsewhere)."""

    @property
    def waiters_bound(self) -> int:
        if self.max_waiters is not None:
            return self.max_waiters
        return WAITERS_PER_CONNECTION * (self.pool_size + self.max_overflow)

    def engine_options(self) -> dict[str, Any]:
        """The engine factories' options (``service.db.engine``: ``pool_ping_window`` and ``pool_max_waiters`` are
        theirs, not SQLAlchemy's)."""
        return {
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.pool_timeout,
            "pool_recycle": self.pool_recycle,
            "pool_pre_ping": self.pool_pre_ping,
            "pool_ping_window": self.ping_window,
            "pool_max_waiters": self.waiters_bound,
        }


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the two apps read from the environment."""

    database_url: str = DEFAULT_DATABASE_URL
    pool: PoolSettings = field(default_factory=PoolSettings)
    connect_timeout: float = 5.0
    record_queries: bool = False
    slow_query_threshold: float = 0.5
    max_content_length: int = 2 * 1024 * 1024
    retry_attempts: int = 5
    retry_base_delay: float = 0.005
    retry_max_delay: float = 0.2
    retry_lock_on_retry: bool = True
    retry_after_seconds: int = 1
    application_name: str = "service"
    bench_endpoints: bool = False
    metrics_enabled: bool = True
    pgbouncer: str | None = None
    statement_timeout_ms: int | None = None
    idle_in_transaction_timeout_ms: int | None = None
    gc_freeze: bool = True
    """Freeze the heap built at start-up out of the garbage collector's reach (:mod:`service.heap`)."""
    drain_seconds: float = 0.0
    """On SIGTERM, how long ``/ready`` answers 503 before the server stops (:mod:`service.draining`)."""
    replica_urls: tuple[str, ...] = ()
    """Streaming standbys that read-only requests read from (:mod:`service.replication`); none: the primary."""
    replica_max_lag: float = 5.0
    """Seconds behind the primary beyond which a standby is not read (a read with a token waits for no lag)."""

    @property
    def autocommit_reads(self) -> bool:
        """Whether GET/HEAD sessions run in autocommit (:mod:`service.db.read_only`).

        Not behind a transaction-mode PgBouncer: outside a transaction it may send asyncpg's prepare and execute of
        one statement to two different server connections ("prepared statement ... does not exist").
        """
        return self.pgbouncer != "transaction"

    def for_standbys(self) -> Settings:
        """The settings of the standbys' engines: the same, but reached directly, never through PgBouncer (a
        transaction-mode pooler would cost them asyncpg's statement cache and their autocommit)."""
        return replace(self, pgbouncer=None)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_attempts, self.retry_base_delay, self.retry_max_delay, self.retry_lock_on_retry)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _read(
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str], T],
    default: T | None,
    check: Callable[[T], bool] = lambda _: True,
    rule: str = "",
) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default  # type: ignore[return-value]
    try:
        value = parse(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot parse {raw!r} ({exc})") from None
    if not check(value):
        raise ConfigError(f"{name}: {raw!r} is out of range ({rule})")
    return value


def _is_postgresql_url(url: str) -> bool:
    return "://" in url and url.split("://", 1)[0].split("+", 1)[0] in {"postgresql", "postgres"}


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    if not _is_postgresql_url(url):
        # The URL may carry a password: name the variable, never echo the value.
        raise ConfigError("DATABASE_URL: must be a postgresql:// URL")
    return url


def _replica_urls(env: Mapping[str, str]) -> tuple[str, ...]:
    urls = tuple(url.strip() for url in env.get("DATABASE_REPLICA_URLS", "").split(",") if url.strip())
    for position, url in enumerate(urls, 1):
        if not _is_postgresql_url(url):
            raise ConfigError(f"DATABASE_REPLICA_URLS: URL {position} must be a postgresql:// URL")
    return urls


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (``os.environ`` by default); raise :class:`ConfigError` on bad input."""
    env = os.environ if env is None else env
    positive = (lambda v: v > 0, "> 0")
    non_negative = (lambda v: v >= 0, ">= 0")
    pool = PoolSettings(
        pool_size=_read(env, "DB_POOL_SIZE", int, 10, *positive),
        max_overflow=_read(env, "DB_MAX_OVERFLOW", int, 20, *non_negative),
        pool_timeout=_read(env, "DB_POOL_TIMEOUT", float, 30.0, *positive),
        pool_recycle=_read(env, "DB_POOL_RECYCLE", int, 1800, lambda v: v == -1 or v > 0, "-1 or > 0"),
        pool_pre_ping=_read(env, "DB_POOL_PRE_PING", _parse_bool, True),
        ping_window=_read(env, "DB_POOL_PING_WINDOW", float, 0.5, lambda v: 0 <= v <= 60, "0..60 seconds"),
        max_waiters=_read(env, "DB_POOL_MAX_WAITERS", int, None, lambda v: v is not None and v >= 0, ">= 0"),
    )
    return Settings(
        database_url=_database_url(env),
        pool=pool,
        connect_timeout=_read(env, "DB_CONNECT_TIMEOUT", float, 5.0, *positive),
        record_queries=_read(env, "SQLALCHEMY_RECORD_QUERIES", _parse_bool, False),
        slow_query_threshold=_read(env, "SQLALCHEMY_SLOW_QUERY_THRESHOLD", float, 0.5, *non_negative),
        max_content_length=_read(env, "MAX_CONTENT_LENGTH", int, 2 * 1024 * 1024, *positive),
        retry_attempts=_read(env, "OPTIMISTIC_LOCK_ATTEMPTS", int, 5, *positive),
        retry_base_delay=_read(env, "OPTIMISTIC_LOCK_BASE_DELAY", float, 0.005, *non_negative),
        retry_max_delay=_read(env, "OPTIMISTIC_LOCK_MAX_DELAY", float, 0.2, *non_negative),
        retry_lock_on_retry=_read(env, "OPTIMISTIC_LOCK_LOCK_ON_RETRY", _parse_bool, True),
        retry_after_seconds=_read(env, "RETRY_AFTER_SECONDS", int, 1, *positive),
        application_name=env.get("DB_APPLICATION_NAME", "").strip() or "service",
        bench_endpoints=_read(env, "BENCH_ENDPOINTS", _parse_bool, False),
        metrics_enabled=_read(env, "METRICS_ENABLED", _parse_bool, True),
        pgbouncer=_read(env, "DB_PGBOUNCER", str, None, lambda v: v == "transaction", "only 'transaction'"),
        statement_timeout_ms=_read(env, "DB_STATEMENT_TIMEOUT_MS", int, None, lambda v: v is not None and v > 0, "> 0"),
        idle_in_transaction_timeout_ms=_read(
            env, "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", int, None, lambda v: v is not None and v > 0, "> 0"
        ),
        gc_freeze=_read(env, "GC_FREEZE", _parse_bool, True),
        drain_seconds=_read(env, "DRAIN_SECONDS", float, 0.0, lambda v: 0 <= v <= 300, "0..300 seconds"),
        replica_urls=_replica_urls(env),
        replica_max_lag=_read(env, "DB_REPLICA_MAX_LAG", float, 5.0, lambda v: 0 < v <= 3600, "0..3600 seconds"),
    )


def settings_or_exit(env: Mapping[str, str] | None = None) -> Settings:
    """:func:`load_settings` for server start-up: a bad setting ends the process with one line, no traceback."""
    try:
        return load_settings(env)
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
