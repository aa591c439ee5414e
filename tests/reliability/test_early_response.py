"""A response sent before the request body was read leaves the client's next request on that connection working.

Issue 12 (part 4): a 3 MiB body to ``POST /products`` is answered 413 without being read; the server then dropped
the connection while its response let the client keep it, and the client's next request on it failed with "Server
disconnected without sending a response" (5 of 60 times on Hypercorn, 21 of 60 on Gunicorn). Here both servers
run from their own config files, and ONE pooled connection (``max_connections=1``) carries, round after round, an
early answer and then ``GET /health``.

Every round, the early response either says ``Connection: close`` or the next request goes out on the same
connection; a new connection without that header means the server closed it silently (the client only won the
race this time). Beyond that:

- under the limit (415, 404, 405), the body is read and discarded: the same connection serves the next request;
- over the limit (Content-Length, or chunked past it), the body is not read for nothing: the response says
  ``Connection: close``, unless the whole body had already arrived (the async app receives it while it answers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.processes import APP_KINDS, LeakGuard, report, serving

pytestmark = pytest.mark.slow

ROUNDS = 60
# The whole loop of one case; a round takes milliseconds when nothing hangs.
TIME_LIMIT = 120.0
MIB = 1024 * 1024
# MAX_CONTENT_LENGTH's default is 2 MiB (service/config.py).
OVER_LIMIT = 3 * MIB
# Under the limit, and well over what Gunicorn drains by itself after a response (64 KiB).
UNDER_LIMIT = 1 * MIB


@dataclass(frozen=True, slots=True)
class Case:
    method: str
    path: str
    content_type: str
    size: int
    status: int
    chunked: bool = False

    @property
    def over_limit(self) -> bool:
        return self.size > 2 * MIB


CASES = {
    "over-limit": Case("POST", "/products", "application/json", OVER_LIMIT, 413),
    "over-limit-chunked": Case("POST", "/products", "application/json", OVER_LIMIT, 413, chunked=True),
    "wrong-content-type": Case("POST", "/products", "text/plain", UNDER_LIMIT, 415),
    "unknown-route": Case("POST", "/nowhere", "application/json", UNDER_LIMIT, 404),
    "wrong-method": Case("POST", "/health", "application/json", UNDER_LIMIT, 405),
}


def body_of(size: int) -> bytes:
    """A JSON object of ``size`` ascii bytes (never parsed: every case is answered before it would be)."""
    head, tail = b'{"name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``data`` as a stream of unknown length: httpx sends it with ``Transfer-Encoding: chunked``."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def note_local_port(response: httpx.Response) -> None:
    """Keep the client-side port of the connection that carried ``response`` (equal ports: the same connection).

    A response hook, run before the body is read: the connection may be closed once it has been.
    """
    stream = response.extensions["network_stream"]
    response.extensions["local_port"] = stream.get_extra_info("client_addr")[1]


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("kind", APP_KINDS)
async def test_next_request_on_the_connection_succeeds_after_an_early_response(
    request: pytest.FixtureRequest, kind: str, case_name: str, database_url: str, tmp_path: Path, guard: LeakGuard
) -> None:
    case = CASES[case_name]
    body = body_of(case.size)
    headers = {"Content-Type": case.content_type}
    errors: list[str] = []
    statuses: list[tuple[int, int]] = []
    closing = reused = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with serving(kind, {"DATABASE_URL": database_url}, tmp_path, guard) as server:
        async with guard.client(server.base_url, limits=limits, timeout=10) as client, asyncio.timeout(TIME_LIMIT):
            client.event_hooks["response"].insert(0, note_local_port)
            for round_ in range(ROUNDS):
                content = chunks(body) if case.chunked else body
                try:
                    early = await client.request(case.method, case.path, content=content, headers=headers)
                except httpx.TransportError as exc:
                    errors.append(f"round {round_}: {case.method} {case.path}: {type(exc).__name__}: {exc}")
                    continue
                try:
                    after = await client.get("/health")
                except httpx.TransportError as exc:
                    errors.append(f"round {round_}: GET /health after {early.status_code}: {type(exc).__name__}: {exc}")
                    continue
                statuses.append((early.status_code, after.status_code))
                if "close" in early.headers.get("connection", "").lower():
                    closing += 1
                elif early.extensions["local_port"] == after.extensions["local_port"]:
                    reused += 1
    report(request, rounds=ROUNDS, failed=len(errors), connection_close=closing, reused=reused)
    assert errors == [], f"{len(errors)} of {ROUNDS} rounds failed:\n" + "\n".join(errors[:10])
    assert statuses == [(case.status, 200)] * ROUNDS
    # Told the connection ends, or it did not end: never a silent close.
    assert closing + reused == ROUNDS
    if not case.over_limit:
        # Small enough to read and discard: the connection stays open and serves the next request.
        assert reused == ROUNDS
