"""Turn one plain ``postgresql://`` URL into the async (asyncpg) and sync (psycopg 3) engine URLs and options."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL, make_url

from service.config import Settings

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg"


def with_driver(url: str | URL, driver: str) -> URL:
    """Return ``url`` with its driver replaced; ``postgres://`` (Heroku style) is accepted too."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.set(drivername=driver)


def async_url(url: str | URL) -> URL:
    return with_driver(url, ASYNC_DRIVER)


def sync_url(url: str | URL) -> URL:
    return with_driver(url, SYNC_DRIVER)


def async_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments: pool settings plus asyncpg's connect options."""
    return {
        **settings.pool.engine_options(),
        "connect_args": {
            "timeout": settings.connect_timeout,
            "server_settings": {"application_name": settings.application_name},
        },
    }


def sync_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` keyword arguments for psycopg 3: the same pool settings as the async side."""
    return {
        **settings.pool.engine_options(),
        "connect_args": {
            "connect_timeout": max(1, round(settings.connect_timeout)),
            "application_name": settings.application_name,
        },
    }
