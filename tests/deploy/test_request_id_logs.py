"""The deployed commands write each request's ``X-Request-ID`` in its access-log line and in the service's own
log lines of that request (here the slow-query warning, with every statement counted as slow)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.processes import APP_KINDS, serving

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", APP_KINDS)
async def test_access_and_service_log_lines_name_the_request(kind: str, database_url: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": database_url,
        "SQLALCHEMY_RECORD_QUERIES": "true",
        "SQLALCHEMY_SLOW_QUERY_THRESHOLD": "0",
    }
    # No LeakGuard on the log: the slow-query lines quote their SQL, by design.
    with serving(kind, env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            sent = await client.get("/users/1", headers={"X-Request-ID": f"trace-{kind}-1"})
            made = await client.get("/users/2")
    log = server.log()  # once stopped: a worker writes its access line after the answer has left
    assert sent.headers["X-Request-ID"] == f"trace-{kind}-1"
    generated = made.headers["X-Request-ID"]
    for request_id, path in ((f"trace-{kind}-1", "/users/1"), (generated, "/users/2")):
        access = [line for line in log.splitlines() if f"GET {path} " in line and '"' in line]
        assert access, log[-3000:]
        assert access[-1].endswith(f" {request_id}"), access
        # A record may span lines (the statement's own newlines): split the log where a record starts (a logging
        # timestamp, or the client address of Gunicorn's access line).
        records = re.split(r"\n(?=\[\d{4}-|127\.0\.0\.1 )", log)
        service = [record for record in records if "service.slow_queries" in record and request_id in record]
        assert service, log[-3000:]
        assert service[0].endswith(f"request_id={request_id}"), service
