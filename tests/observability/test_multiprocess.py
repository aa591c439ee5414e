"""/metrics adds up over worker processes: 2 Hypercorn workers, 2 Gunicorn workers, real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.observability.test_metrics import sample
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _command(kind: str, port: int) -> list[str]:
    if kind == "quart":
        return [
            str(BIN / "hypercorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}",
            "service.quart_app:create_app()",
        ]  # fmt: skip
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", "2", "--bind", f"127.0.0.1:{port}"]


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        try:
            if httpx.get(base_url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError("server did not start")


@pytest.mark.parametrize("kind", ["quart", "flask"])
def test_scraped_totals_add_up_over_workers(kind: str, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "DB_POOL_SIZE": "2",
    }
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(_command(kind, port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(base_url, proc)
        # A new connection per request, so both workers' accept loops take their share.
        with httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as client:
            health_before = [sample(client.get("/metrics").text, "http_requests_total", route="/health")]
            for _ in range(40):
                assert client.get("/health").status_code == 200
            for _ in range(10):
                assert client.get("/users").status_code == 200
            scrapes = [client.get("/metrics").text for _ in range(6)]
        pids = {p.name.split("_")[-1].split(".")[0] for p in metrics_dir.glob("*.db")}
        assert len(pids) >= 2, "only one worker process wrote metrics"
        for text in scrapes:
            assert sample(text, "http_requests_total", route="/health") - health_before[0] == 40
            assert sample(text, "http_requests_total", route="/users", status="200") == 10
            assert sample(text, "db_query_duration_seconds_count", kind="select") >= 20
            assert sample(text, "db_pool_checked_out") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
