"""load_settings: defaults, parsing of each variable, and errors that name the variable but never leak a secret."""

from __future__ import annotations

import pytest

from service.config import DEFAULT_DATABASE_URL, ConfigError, PoolSettings, Settings, load_settings


def test_defaults_from_an_empty_environment() -> None:
    settings = load_settings({})

    assert settings == Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.pool == PoolSettings(
        pool_size=10, max_overflow=20, pool_timeout=30.0, pool_recycle=1800, pool_pre_ping=True, ping_window=0.5
    )
    assert settings.record_queries is False
    # The async pool's queue: four waiters per connection it may open (10 + 20), unless set.
    assert settings.pool.engine_options()["pool_max_waiters"] == 120


def test_blank_values_mean_default() -> None:
    assert load_settings({"DB_POOL_SIZE": "  ", "DATABASE_URL": "", "DB_POOL_PRE_PING": ""}) == Settings()


@pytest.mark.parametrize(
    ("var", "raw", "field", "expected"),
    [
        ("DB_POOL_SIZE", "7", "pool_size", 7),
        ("DB_MAX_OVERFLOW", "0", "max_overflow", 0),
        ("DB_POOL_TIMEOUT", "2.5", "pool_timeout", 2.5),
        ("DB_POOL_RECYCLE", "300", "pool_recycle", 300),
        ("DB_POOL_RECYCLE", "-1", "pool_recycle", -1),
        ("DB_POOL_PRE_PING", "false", "pool_pre_ping", False),
        ("DB_POOL_PING_WINDOW", "0", "ping_window", 0.0),
        ("DB_POOL_PING_WINDOW", "1.5", "ping_window", 1.5),
        ("DB_POOL_MAX_WAITERS", "0", "max_waiters", 0),
        ("DB_POOL_MAX_WAITERS", "7", "max_waiters", 7),
    ],
)
def test_each_pool_variable_is_parsed(var: str, raw: str, field: str, expected: object) -> None:
    pool = load_settings({var: raw}).pool

    assert getattr(pool, field) == expected
    option = {"ping_window": "pool_ping_window", "max_waiters": "pool_max_waiters"}.get(field, field)
    assert pool.engine_options()[option] == expected


def test_other_variables_are_parsed() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgres://app:pw@db:5432/app",
            "DB_CONNECT_TIMEOUT": "1.5",
            "SQLALCHEMY_SLOW_QUERY_THRESHOLD": "0",
            "MAX_CONTENT_LENGTH": "1024",
            "OPTIMISTIC_LOCK_ATTEMPTS": "3",
            "RETRY_AFTER_SECONDS": "2",
            "DB_APPLICATION_NAME": " api ",
        }
    )

    assert settings.database_url == "postgres://app:pw@db:5432/app"
    assert settings.connect_timeout == 1.5
    assert settings.slow_query_threshold == 0
    assert settings.max_content_length == 1024
    assert settings.retry_attempts == 3
    assert settings.retry_after_seconds == 2
    assert settings.application_name == "api"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("False", False), ("no", False)],
)
def test_booleans(raw: str, expected: bool) -> None:
    settings = load_settings({"SQLALCHEMY_RECORD_QUERIES": raw, "DB_POOL_PRE_PING": raw})

    assert settings.record_queries is expected
    assert settings.pool.pool_pre_ping is expected


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("DB_POOL_SIZE", "ten"),
        ("DB_POOL_SIZE", "0"),
        ("DB_POOL_SIZE", "1.5"),
        ("DB_MAX_OVERFLOW", "-1"),
        ("DB_POOL_TIMEOUT", "0"),
        ("DB_POOL_RECYCLE", "0"),
        ("DB_POOL_RECYCLE", "-2"),
        ("DB_POOL_PRE_PING", "maybe"),
        ("DB_POOL_PING_WINDOW", "-0.1"),
        ("DB_POOL_PING_WINDOW", "inf"),
        ("DB_POOL_PING_WINDOW", "nan"),
        ("DB_POOL_MAX_WAITERS", "-1"),
        ("DB_POOL_MAX_WAITERS", "many"),
        ("SQLALCHEMY_RECORD_QUERIES", "2"),
        ("DB_CONNECT_TIMEOUT", "-1"),
        ("OPTIMISTIC_LOCK_ATTEMPTS", "0"),
        ("DB_REPLICA_MAX_LAG", "0"),
        ("DB_REPLICA_MAX_LAG", "soon"),
    ],
)
def test_bad_values_name_the_variable(var: str, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({var: raw})

    assert str(caught.value).startswith(f"{var}:")


@pytest.mark.parametrize(
    "url",
    ["mysql://u:s3cret@h/db", "u:s3cret@h/db", "sqlite:///s3cret.db", "postgresqlx://u:s3cret@h/db"],
)
def test_bad_database_url_is_named_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": url})

    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "s3cret" not in message
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    "url", ["postgresql://u:s3cret@h/db", "postgres://u@h/db", "postgresql+asyncpg://u@h/db", "postgresql+psycopg://h"]
)
def test_postgresql_urls_are_accepted(url: str) -> None:
    assert load_settings({"DATABASE_URL": url}).database_url == url


def test_replica_urls_are_a_comma_separated_list() -> None:
    assert load_settings({}).replica_urls == ()
    settings = load_settings(
        {"DATABASE_REPLICA_URLS": " postgresql://u@s1/db ,postgres://u@s2:6543/db,, ", "DB_REPLICA_MAX_LAG": "0.5"}
    )
    assert settings.replica_urls == ("postgresql://u@s1/db", "postgres://u@s2:6543/db")
    assert settings.replica_max_lag == 0.5
    assert load_settings({}).replica_max_lag == 5.0


def test_a_bad_replica_url_is_named_by_position_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_REPLICA_URLS": "postgresql://u@s1/db,mysql://u:s3cret@s2/db"})
    assert str(caught.value) == "DATABASE_REPLICA_URLS: URL 2 must be a postgresql:// URL"
