"""``make cluster`` and docker-compose.yml are one topology: the same parts, the same HAProxy file, the same names.

The first tests read files only; the last ones look at the running cluster's parts and databases.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import psycopg
import pytest
import yaml

from cluster import FRONTENDS, PARTS, Cluster, ClusterConfig, StartError, replica_name
from cluster import haproxy as cluster_haproxy
from tests.support.processes import ROOT

COMPOSE = ROOT / "docker-compose.yml"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def _long_running(services: dict[str, Any]) -> set[str]:
    """Compose's services less the one-shot migration job and the optional (profiled) ones."""
    return {name for name, service in services.items() if name != "migrate" and not service.get("profiles")}


def _server_names(lines: list[str]) -> list[str]:
    """The server names a backend's lines declare: ``server NAME ...`` and ``server-template PREFIX FIRST-LAST``."""
    found: list[str] = []
    for line in lines:
        words = line.split()
        if words[0] == "server":
            found.append(words[1])
        elif words[0] == "server-template":
            first, _, last = words[2].partition("-")
            low, high = (int(first), int(last)) if last else (1, int(first))
            found += [f"{words[1]}{n}" for n in range(low, high + 1)]
    return found


def _option(lines: list[str], keyword: str) -> list[str]:
    return [line.split(None, 1)[1].strip() for line in lines if line.split()[0] == keyword]


def test_the_cluster_runs_the_long_running_services_of_compose(services: dict[str, Any]) -> None:
    assert set(PARTS) == _long_running(services)


def test_compose_mounts_the_haproxy_file_the_cluster_renders(services: dict[str, Any]) -> None:
    volumes = services["haproxy"]["volumes"]
    assert any(volume.startswith("./deploy/haproxy/haproxy.cfg:") for volume in volumes)
    assert cluster_haproxy.CONFIG == HAPROXY_CFG


def test_haproxy_fronts_both_apps_with_one_backend_each() -> None:
    sections = cluster_haproxy.sections(HAPROXY_CFG.read_text())
    assert cluster_haproxy.names(HAPROXY_CFG.read_text(), "frontend") == set(FRONTENDS)
    assert cluster_haproxy.names(HAPROXY_CFG.read_text(), "backend") == set(FRONTENDS.values())
    for frontend, backend in FRONTENDS.items():
        assert _option(sections["frontend", frontend], "default_backend") == [backend], frontend
    # Both topologies name the services these backends balance over as compose does.
    assert set(FRONTENDS.values()) <= set(PARTS)


def test_both_topologies_give_the_servers_the_same_names(services: dict[str, Any]) -> None:
    """Compose's server-template slots and the cluster's servers: app-1..app-N and twin, N the compose replicas."""
    text = HAPROXY_CFG.read_text()
    replicas = services["app"]["deploy"]["replicas"]
    assert replicas == ClusterConfig().replicas
    sections = cluster_haproxy.sections(text)
    compose_names = {backend: _server_names(sections["backend", backend]) for backend in FRONTENDS.values()}
    local = {
        "app": [(replica_name(i), f"127.0.0.1:{9000 + i}") for i in range(replicas)],
        "twin": [("twin", "127.0.0.1:9100")],
    }
    rendered = cluster_haproxy.render(local, text)
    rendered_sections = cluster_haproxy.sections(rendered)
    for backend, servers in local.items():
        assert compose_names[backend] == [name for name, _ in servers], backend
        assert _server_names(rendered_sections["backend", backend]) == [name for name, _ in servers]
    # Everything but the server lines is the file itself.
    server_line = re.compile(r"^\s+(server|server-template)\s")
    assert [line for line in rendered.splitlines() if not server_line.match(line)] == [
        line for line in text.splitlines() if not server_line.match(line)
    ]


def test_replicas_drain_longer_than_haproxy_takes_to_notice(services: dict[str, Any]) -> None:
    """DRAIN_SECONDS in both topologies is above the check interval x fall: a stopping replica leaves rotation."""
    defaults = cluster_haproxy.sections(HAPROXY_CFG.read_text())["defaults", ""]
    (default_server,) = _option(defaults, "default-server")
    inter = re.search(r"\binter (\d+)ms\b", default_server)
    fall = re.search(r"\bfall (\d+)\b", default_server)
    assert inter, default_server
    assert fall, default_server
    detection = int(inter.group(1)) / 1000 * int(fall.group(1))
    for app in ("app", "twin"):
        drain = float(services[app]["environment"]["DRAIN_SECONDS"])
        assert drain == ClusterConfig().drain_seconds, app
        assert drain > detection + 0.5, app


def test_the_apps_are_reached_through_haproxy_only(services: dict[str, Any]) -> None:
    for app in ("app", "twin"):
        assert "ports" not in services[app], f"{app}: HAProxy is the front door"
    published = {port.rsplit(":", 2)[-1] for port in services["haproxy"]["ports"]}
    assert {"8080", "8081"} <= published
    replica_url = services["app"]["environment"]["DATABASE_REPLICA_URLS"]
    assert "@postgres-standby:5432/" in replica_url


# -- the running topology ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_running_cluster_has_the_parts(cluster: Cluster) -> None:
    running = [re.sub(r"-\d+$", "", part) if part.startswith("app-") else part for part in cluster.parts()]
    assert set(running) == set(PARTS)
    assert running.count("app") == cluster.config.replicas


@pytest.mark.slow
def test_primary_standby_and_pgbouncer(cluster: Cluster) -> None:
    def one(dsn: str, statement: str) -> Any:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            row = conn.execute(statement).fetchone()  # type: ignore[arg-type]
            assert row is not None
            return row[0]

    assert one(cluster.primary_dsn, "SELECT pg_is_in_recovery()") is False
    assert one(cluster.standby_dsn, "SELECT pg_is_in_recovery()") is True
    # The migrations reached the standby by streaming.
    head = one(cluster.primary_dsn, "SELECT version_num FROM alembic_version")
    assert one(cluster.standby_dsn, "SELECT version_num FROM alembic_version") == head
    assert one(cluster.pgbouncer_dsn, "SELECT current_database()") == cluster.config.database
    with (
        psycopg.connect(cluster.standby_dsn, connect_timeout=5) as conn,
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute("CREATE TABLE refused (id int)")
    senders = one(cluster.primary_dsn, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
    assert senders == 1


@pytest.mark.slow
def test_wait_standby_replayed_waits_for_what_the_primary_wrote(cluster: Cluster) -> None:
    table = f"replay_probe_{secrets.token_hex(4)}"
    cluster.standby.query("SELECT pg_wal_replay_pause()")
    try:
        cluster.primary.query(f"CREATE TABLE {table} (id int)")
        with pytest.raises(StartError, match="replayed"):
            cluster.wait_standby_replayed(timeout=1)
        assert cluster.standby.query(f"SELECT to_regclass('{table}') IS NULL") == [(True,)]
    finally:
        cluster.standby.query("SELECT pg_wal_replay_resume()")
    cluster.wait_standby_replayed(timeout=10)
    assert cluster.standby.query(f"SELECT to_regclass('{table}') IS NOT NULL") == [(True,)]
    cluster.primary.query(f"DROP TABLE {table}")
