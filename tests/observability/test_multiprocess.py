"""/metrics adds up over worker processes: 2 Hypercorn workers, 2 Gunicorn workers, real subprocesses."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.observability.test_metrics import sample
from tests.support.processes import serving

pytestmark = pytest.mark.slow

# The kernel hands new connections to whichever worker accepts first, so the split is not even: requests go on
# until both workers have answered one, for at most this long.
BOTH_SERVED_TIMEOUT = 30.0


def served_by_process(metrics_dir: Path, route: str) -> dict[str, float]:
    """Requests to ``route`` counted by each process, from its own counter file (``counter_<pid>.db``).

    A process creates its files as soon as it builds its metrics, so a file alone does not show that the process
    answered anything: the count inside it does.
    """
    served: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        metrics = MultiProcessCollector.merge([str(path)], accumulate=False)  # type: ignore[no-untyped-call]
        served[pid] = sum(
            s.value
            for metric in metrics
            for s in metric.samples
            if s.name == "http_requests_total" and s.labels.get("route") == route
        )
    return served


@pytest.mark.parametrize("kind", ["quart", "flask"])
def test_scraped_totals_add_up_over_workers(kind: str, database_url: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "GUNICORN_WORKERS": "2"}
    extra = ["--workers", "2"] if kind == "quart" else []
    with (
        serving(kind, env, tmp_path, extra=extra) as server,
        # A new connection per request, so both workers' accept loops take their share.
        httpx.Client(base_url=server.base_url, limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as client,
    ):
        health_before = sample(client.get("/metrics").text, "http_requests_total", route="/health")
        # The start-up health checks are counted too: only what each worker serves from here on is ours.
        baseline = served_by_process(metrics_dir, "/health")
        deadline = time.monotonic() + BOTH_SERVED_TIMEOUT
        sent = 0
        while True:
            assert client.get("/health").status_code == 200
            sent += 1
            served = {
                pid: count - baseline.get(pid, 0.0) for pid, count in served_by_process(metrics_dir, "/health").items()
            }
            serving_pids = {pid for pid, count in served.items() if count >= 1}
            if (len(serving_pids) >= 2 and sent >= 40) or time.monotonic() > deadline:
                break
        for _ in range(10):
            assert client.get("/users").status_code == 200
        scrapes = [client.get("/metrics").text for _ in range(6)]
    assert len(serving_pids) >= 2, f"only one worker answered /health in {sent} requests: {served}"
    # Every request is in exactly one worker's file, and /metrics adds the files up.
    assert sum(served.values()) == sent, served
    for text in scrapes:
        assert sample(text, "http_requests_total", route="/health") - health_before == sent
        assert sample(text, "http_requests_total", route="/users", status="200") == 10
        assert sample(text, "db_query_duration_seconds_count", kind="select") >= 20
        assert "\ndb_pool_checked_out " in text  # exported: sample() reads an absent gauge as 0
        assert sample(text, "db_pool_checked_out") == 0
