"""``DRAIN_SECONDS``: on SIGTERM a server answers ``/ready`` with 503 for that long while it serves everything else,
new connections included, then stops as before (exit 0). This is what lets a load balancer take it out of rotation
before its listener closes (service.draining)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import APP_KINDS, LeakGuard, serving

pytestmark = pytest.mark.slow

DRAIN = 3.0


@pytest.mark.parametrize("kind", APP_KINDS)
def test_sigterm_drains_then_stops(kind: str, database_url: str, tmp_path: Path, guard: LeakGuard) -> None:
    env = {"DATABASE_URL": database_url, "DRAIN_SECONDS": str(DRAIN)}
    with serving(kind, env, tmp_path, guard) as server:
        assert httpx.get(f"{server.base_url}/ready", timeout=5).status_code == 200
        signalled = time.monotonic()
        server.terminate()
        readiness: list[int] = []
        answers: list[int] = []
        while time.monotonic() - signalled < DRAIN - 1.0:
            # A new connection each time: the listener stays open while draining.
            with httpx.Client(base_url=server.base_url, timeout=5) as client:
                ready = client.get("/ready")
                readiness.append(ready.status_code)
                answers.append(client.get("/users/1").status_code)
                answers.append(client.get("/health").status_code)
            time.sleep(0.1)
        code = server.wait(DRAIN + 30)
        stopped = time.monotonic() - signalled
    # The first probe may still see "ready" (the signal is handled a moment after it is sent), none after a 503.
    first_503 = readiness.index(503)
    assert first_503 <= 1, readiness
    assert set(readiness[first_503:]) == {503}, readiness
    assert ready.headers["Retry-After"].isdigit()
    assert ready.headers["Content-Type"] == "application/problem+json"
    assert set(answers) <= {200, 404}, answers
    assert code == 0, server.log()[-3000:]
    assert DRAIN <= stopped < DRAIN + 20, stopped
    assert "draining for 3.0 s before stopping" in server.log()


@pytest.mark.parametrize("kind", APP_KINDS)
def test_without_drain_seconds_sigterm_stops_at_once(
    kind: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    with serving(kind, {"DATABASE_URL": database_url}, tmp_path, guard) as server:
        assert httpx.get(f"{server.base_url}/ready", timeout=5).status_code == 200
        signalled = time.monotonic()
        server.terminate()
        code = server.wait(30)
        stopped = time.monotonic() - signalled
    assert code == 0, server.log()[-3000:]
    assert stopped < 2.0, stopped
    assert "draining" not in server.log()
