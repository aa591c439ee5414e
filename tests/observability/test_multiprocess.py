"""/metrics adds up over worker processes: 2 Hypercorn workers, 2 Gunicorn workers, real subprocesses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.observability.test_metrics import sample
from tests.support.processes import serving

pytestmark = pytest.mark.slow


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
        for _ in range(40):
            assert client.get("/health").status_code == 200
        for _ in range(10):
            assert client.get("/users").status_code == 200
        scrapes = [client.get("/metrics").text for _ in range(6)]
    pids = {p.name.split("_")[-1].split(".")[0] for p in metrics_dir.glob("*.db")}
    assert len(pids) >= 2, "only one worker process wrote metrics"
    for text in scrapes:
        assert sample(text, "http_requests_total", route="/health") - health_before == 40
        assert sample(text, "http_requests_total", route="/users", status="200") == 10
        assert sample(text, "db_query_duration_seconds_count", kind="select") >= 20
        assert sample(text, "db_pool_checked_out") == 0
