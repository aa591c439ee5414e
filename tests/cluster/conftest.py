"""The topology of ``make cluster`` (3 replicas), started once for the directory through the cluster API."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from cluster import Cluster, ClusterConfig, StartError, replica_name, running_cluster
from cluster.haproxy import haproxy_binary
from cluster.pgbouncer import pgbouncer_binary
from tests.reliability.conftest import pytest_terminal_summary
from tests.support.ci import missing

__all__ = ["pytest_terminal_summary"]

REPLICAS = 3


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """PostgreSQL primary + standby, PgBouncer, 3 async replicas, the twin and HAProxy; logs stay in the tmp dir."""
    for tool, found in (("haproxy", haproxy_binary()), ("pgbouncer", pgbouncer_binary())):
        if found is None:
            missing(f"{tool} is not installed (make system-deps installs it)")
    config = ClusterConfig(replicas=REPLICAS, work_dir=tmp_path_factory.mktemp("cluster"))
    stack = contextlib.ExitStack()
    try:
        started = stack.enter_context(running_cluster(config))
    except StartError as exc:
        pytest.fail(f"the cluster did not start: {exc}", pytrace=False)
    with stack:
        yield started


@pytest.fixture
def all_up(cluster: Cluster) -> Cluster:
    """The cluster with every server UP in HAProxy: each fault test starts from, and leaves, a full rotation."""
    for i in range(REPLICAS):
        cluster.wait_backend("app", replica_name(i), "UP", 15)
    cluster.wait_backend("twin", "twin", "UP", 15)
    return cluster
