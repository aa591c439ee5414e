"""docker-compose.yml, linted by parsing: the services issue 8 lists, wired the way the reliability tests prove works.

Also the server configurations it runs (hypercorn.toml, gunicorn.conf.py) and the files it mounts.
"""

from __future__ import annotations

import re
import runpy
import tomllib
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from service.config import load_settings
from tests.reliability.pgbouncer import deploy_settings
from tests.support.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
APPS = ("app", "twin")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]  # type: ignore[no-any-return]


def _substituted(value: str) -> str:
    """``${NAME:?message}`` / ``${NAME:-default}`` replaced as compose would, with a stand-in secret."""
    return re.sub(r"\$\{(\w+)(?::[?-][^}]*)?\}", lambda m: f"stand-in-{m.group(1).lower().replace('_', '-')}", value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {key: _substituted(str(value)) for key, value in env.items()}


def _seconds(duration: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration).groups()  # type: ignore[union-attr]
    return float(number) * {"ms": 0.001, "s": 1, "m": 60}[unit]


def test_the_documented_services_are_there(compose: dict[str, Any], services: dict[str, Any]) -> None:
    assert set(services) == {
        "postgres",
        "postgres-standby",
        "pgbouncer",
        "migrate",
        "app",
        "twin",
        "haproxy",
        "prometheus",
    }
    header = COMPOSE.read_text().split("\nname:", 1)[0]
    for name in services:
        assert re.search(rf"^#\s+{name}\s", header, flags=re.MULTILINE), f"{name} is not described in the header"


def test_migrate_is_a_one_shot_job_the_apps_wait_for(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate.get("restart") == "no"
    assert "ports" not in migrate
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    # Migrations talk to PostgreSQL itself: they use session settings a transaction pooler would not keep.
    assert make_url(_environment(migrate)["DATABASE_URL"]).host == "postgres"
    for app in APPS:
        assert services[app]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[app]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"
        command = services[app].get("command")
        assert command is None or "migrate" not in command


def test_pgbouncer_pools_transactions_in_front_of_postgres(services: dict[str, Any]) -> None:
    pgbouncer = services["pgbouncer"]
    assert pgbouncer["build"] == "./deploy/pgbouncer"
    settings = deploy_settings()
    assert settings["pgbouncer"]["pool_mode"] == "transaction"
    assert "host=postgres" in settings["databases"]["app"]
    assert pgbouncer["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(_environment(pgbouncer)) == {"APP_DB_USER", "APP_DB_PASSWORD"}


def test_the_apps_go_through_pgbouncer_with_the_preset(services: dict[str, Any]) -> None:
    listen_port = int(deploy_settings()["pgbouncer"]["listen_port"])
    for app in APPS:
        env = _environment(services[app])
        url = make_url(env["DATABASE_URL"])
        assert (url.host, url.port) == ("pgbouncer", listen_port), app
        assert env["DB_PGBOUNCER"] == "transaction", app
        # Valid settings for the service (the same validation it runs at start).
        settings = load_settings(env)
        assert settings.pgbouncer == "transaction"
        assert settings.statement_timeout_ms is None, "behind PgBouncer the guards live on the role (app-role.sql)"


def test_async_service_has_replicas_and_the_twin_is_its_image_target(services: dict[str, Any]) -> None:
    assert services["app"]["deploy"]["replicas"] >= 2
    assert services["app"]["build"] == "."
    assert services["twin"]["build"] == {"context": ".", "target": "twin"}
    # No host port per replica: HAProxy is the front door (tests/cluster/test_parts.py checks its side).
    assert "ports" not in services["app"]
    assert "ports" not in services["twin"]
    assert _environment(services["twin"])["PROMETHEUS_MULTIPROC_DIR"] in services["twin"]["tmpfs"]


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in ("postgres", "pgbouncer", "app", "twin"):
        check = services[name]["healthcheck"]
        assert all(check.get(key) for key in ("test", "interval", "timeout", "retries")), name
    for app, port in (("app", 8000), ("twin", 8001)):
        assert any(f"127.0.0.1:{port}/health" in part for part in services[app]["healthcheck"]["test"])


def test_docker_waits_longer_than_the_servers_drain(services: dict[str, Any]) -> None:
    """SIGKILL only after the graceful timeout: in-flight requests finish on a rollout."""
    hypercorn = tomllib.loads((ROOT / "hypercorn.toml").read_text())
    assert _seconds(services["app"]["stop_grace_period"]) > hypercorn["graceful_timeout"]
    twin_graceful = float(_environment(services["twin"])["GUNICORN_GRACEFUL_TIMEOUT"])
    assert _seconds(services["twin"]["stop_grace_period"]) > twin_graceful


def test_secrets_come_from_the_environment(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for service in services.values():
        for key, value in service.get("environment", {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{key} must be required from the environment"
            if key == "DATABASE_URL":
                assert make_url(_substituted(str(value))).password.startswith("stand-in-")  # type: ignore[union-attr]
    assert "password" not in re.sub(r"\$\{[^}]*\}|#.*|PASSWORD", "", text).lower()


def test_prometheus_is_optional_and_scrapes_both_apps(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["app"]["metrics_path"] == jobs["twin"]["metrics_path"] == "/metrics"
    assert jobs["app"]["dns_sd_configs"][0]["names"] == ["app"], "every replica, not one of them"
    assert jobs["twin"]["static_configs"][0]["targets"] == ["twin:8001"]


def test_every_mounted_file_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is missing"
        build = service.get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        if context:
            assert (ROOT / context / "Dockerfile").exists(), name


def test_hypercorn_config(services: dict[str, Any]) -> None:
    config = tomllib.loads((ROOT / "hypercorn.toml").read_text())
    assert config["workers"] == 0, "one process per container; replicas scale it (see the file's comment)"
    assert 0 < config["graceful_timeout"] < 30
    assert config["keep_alive_timeout"] > 60
    assert "read_timeout" not in config
    assert config["accesslog"] == "-"
    assert config["errorlog"] == "-"
    # %(r)s: the request line without the query string; %(R)s would log it, with e-mail addresses.
    assert "%(r)s" in config["access_log_format"]
    assert "%(R)s" not in config["access_log_format"]


def test_gunicorn_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GUNICORN_GRACEFUL_TIMEOUT", "12")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert config["wsgi_app"] == "service.flask_app:create_app()"
    assert config["worker_class"] == "gthread"
    assert (config["workers"], config["threads"], config["graceful_timeout"]) == (2, 8, 12)
    assert config["limit_request_line"] == 8190
    assert "%(U)s" in config["access_log_format"]
    assert "%(r)s" not in config["access_log_format"]
    assert "%(q)s" not in config["access_log_format"]
    assert callable(config["on_starting"])
    assert callable(config["child_exit"])
