"""Turn one plain ``postgresql://`` URL into the async (asyncpg) and sync (psycopg 3) engine URLs and options."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

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


def server_guards(settings: Settings) -> dict[str, str]:
    """Session settings that bound a runaway statement or an abandoned transaction on the server side.

    Behind PgBouncer these cannot travel as startup parameters (it refuses unknown ones): set them on the app's
    role instead (``ALTER ROLE ... SET``, see ``deploy/app-role.sql``).
    """
    guards: dict[str, str] = {}
    if settings.pgbouncer:
        return guards
    if settings.statement_timeout_ms:
        guards["statement_timeout"] = str(settings.statement_timeout_ms)
    if settings.idle_in_transaction_timeout_ms:
        guards["idle_in_transaction_session_timeout"] = str(settings.idle_in_transaction_timeout_ms)
    return guards


def _unique_statement_name() -> str:
    # A transaction-mode pooler hands each transaction any server connection: asyncpg's numbered names would
    # collide with another client's statement there ("prepared statement ... already exists").
    return f"__asyncpg_{uuid4().hex}__"


def async_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments: pool settings plus asyncpg's connect options."""
    connect_args: dict[str, Any] = {
        "timeout": settings.connect_timeout,
        "server_settings": {"application_name": settings.application_name, **server_guards(settings)},
    }
    if settings.pgbouncer == "transaction":
        connect_args.update(
            statement_cache_size=0,  # asyncpg's own cache of prepared statements
            prepared_statement_cache_size=0,  # SQLAlchemy's adapter cache
            prepared_statement_name_func=_unique_statement_name,
        )
    return {**settings.pool.engine_options(), "connect_args": connect_args}


def sync_engine_options(settings: Settings) -> dict[str, Any]:
    """``create_engine`` keyword arguments for psycopg 3: the same pool settings as the async side."""
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(settings.connect_timeout)),
        "application_name": settings.application_name,
    }
    guards = server_guards(settings)
    if guards:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in guards.items())
    if settings.pgbouncer == "transaction":
        connect_args["prepare_threshold"] = None  # psycopg: never prepare server-side
    return {**settings.pool.engine_options(), "connect_args": connect_args}
