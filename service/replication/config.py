"""An app's standbys as its config names them: the same keys, defaults and labels for both apps' extensions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL, make_url

from service.observability.metrics import get_metrics
from service.replication.routes import RouteMetrics

DEFAULT_MAX_LAG = 5.0


@dataclass(frozen=True)
class StandbyConfig:
    """``SQLALCHEMY_REPLICA_URIS`` (default none), ``SQLALCHEMY_REPLICA_MAX_LAG`` (seconds, default 5),
    ``SQLALCHEMY_REPLICA_ENGINE_OPTIONS`` (default ``SQLALCHEMY_ENGINE_OPTIONS``), and the metrics to report to
    (none when the service's ``METRICS_ENABLED`` is off, or outside the service)."""

    urls: list[URL]
    max_lag: float
    engine_options: dict[str, Any]
    metrics: RouteMetrics | None

    @property
    def names(self) -> list[str]:
        """Each standby as ``host:port/database``: a metrics label and a log field, never a password."""
        return [f"{url.host}:{url.port or 5432}/{url.database}" for url in self.urls]


def standby_config(config: Mapping[str, Any]) -> StandbyConfig:
    settings = config.get("SERVICE_SETTINGS")
    return StandbyConfig(
        urls=[make_url(url) for url in config.get("SQLALCHEMY_REPLICA_URIS", ())],
        max_lag=float(config.get("SQLALCHEMY_REPLICA_MAX_LAG", DEFAULT_MAX_LAG)),
        engine_options=dict(
            config.get("SQLALCHEMY_REPLICA_ENGINE_OPTIONS") or config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        ),
        metrics=get_metrics() if settings is not None and settings.metrics_enabled else None,
    )
