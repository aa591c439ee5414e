"""The parts of an app's configuration and URL map that both frameworks share."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import Map

from service.api.converters import IdConverter
from service.config import Settings


def shared_config(settings: Settings) -> dict[str, Any]:
    """Config keys both apps read the same way (each adds its own database URI and engine options)."""
    return {
        "SQLALCHEMY_RECORD_QUERIES": settings.record_queries,
        "SQLALCHEMY_AUTOCOMMIT_READS": settings.autocommit_reads,
        "SQLALCHEMY_SLOW_QUERY_THRESHOLD": settings.slow_query_threshold,
        "MAX_CONTENT_LENGTH": settings.max_content_length,
        "SERVICE_SETTINGS": settings,
        "RETRY_POLICY": settings.retry_policy(),
        "SQLALCHEMY_REPLICA_URIS": list(settings.replica_urls),
        "SQLALCHEMY_REPLICA_MAX_LAG": settings.replica_max_lag,
    }


def configure_url_map(url_map: Map) -> None:
    """``<id:...>`` ids, and ``/users/`` answered like ``/users`` (no redirect a JSON client would not follow)."""
    url_map.converters["id"] = IdConverter
    url_map.strict_slashes = False
