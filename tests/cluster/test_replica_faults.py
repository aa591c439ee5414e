"""Faults behind HAProxy on the running cluster: a replica killed, a rolling restart, slow clients.

The load is a few asyncio clients (httpx, keep-alive) through the front door, alternating a write (POST /users)
and a read (GET /users page), in a thread of its own so the test can stop and start processes meanwhile. Every
answer is recorded with the time its request started: a failure is a transport error or an unexpected status.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from cluster import Cluster, replica_name
from tests.cluster.test_front_door import requests_served
from tests.support.processes import report

pytestmark = pytest.mark.slow

WORKERS = 6


@dataclass
class Outcome:
    started: float
    method: str
    status: int | None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status not in (200, 201)


@dataclass
class Load:
    """WORKERS clients sending requests back to back until stopped."""

    base_url: str
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    async def _client(self, worker: int) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                write = n % 2 == 0
                started = time.monotonic()
                try:
                    if write:
                        email = f"load-{worker}-{uuid.uuid4().hex[:12]}@example.com"
                        response = await client.post("/users", json={"email": email, "name": "Load"})
                    else:
                        response = await client.get("/users", params={"page": 1, "per_page": 5})
                    outcome = Outcome(started, "POST" if write else "GET", response.status_code)
                except httpx.HTTPError as exc:
                    outcome = Outcome(started, "POST" if write else "GET", None, f"{type(exc).__name__}: {exc}")
                self.outcomes.append(outcome)  # one event loop thread appends; list.append is atomic anyway

    async def _run(self) -> None:
        await asyncio.gather(*(self._client(worker) for worker in range(WORKERS)))

    @contextlib.contextmanager
    def running(self) -> Iterator[Load]:
        thread = threading.Thread(target=asyncio.run, args=(self._run(),), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while len(self.outcomes) < 20:
                assert thread.is_alive(), "the load stopped"
                assert time.monotonic() < deadline, "the load did not get going"
                time.sleep(0.05)
            yield self
        finally:
            self._stop.set()
            thread.join(30)
        assert not thread.is_alive()

    def failures(self, since: float = 0.0) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.failed and outcome.started >= since]


def _summary(outcomes: list[Outcome]) -> str:
    return "; ".join(f"{o.method} {o.status} {o.error or ''}".strip() for o in outcomes[:10])


def test_a_killed_replica_loses_only_its_in_flight_requests(all_up: Cluster, request: pytest.FixtureRequest) -> None:
    cluster, victim = all_up, 1
    server = replica_name(victim)
    load = Load(cluster.front_url)
    with load.running():
        time.sleep(1.0)
        killed_at = time.monotonic()
        cluster.kill_replica(victim)
        cluster.wait_backend("app", server, "DOWN", 10)
        down_at = time.monotonic()
        time.sleep(1.5)
        cluster.start_replica(victim)
        cluster.wait_backend("app", server, "UP", 15)
        up_at = time.monotonic()
        time.sleep(1.5)
    # Only what was in flight on the victim when it died may fail: at most one request per client.
    failures = load.failures()
    report(
        request,
        requests=len(load.outcomes),
        failed=len(failures),
        failed_after_kill_started=len(load.failures(since=killed_at)),
        failed_after_down=len(load.failures(since=down_at)),
        seconds_to_down=round(down_at - killed_at, 2),
        seconds_restart_to_up=round(up_at - down_at - 1.5, 2),
        failures=_summary(failures) or "-",
    )
    assert not load.failures(since=down_at), _summary(load.failures(since=down_at))
    assert len(failures) <= WORKERS, _summary(failures)
    # Back in rotation: the new process (its counters start at 0) serves its share of the load.
    assert requests_served(cluster.replica_urls[victim], "/users") > 0
    assert sum(1 for o in load.outcomes if o.started > up_at and not o.failed) > 0


def test_a_rolling_restart_fails_no_request(all_up: Cluster, request: pytest.FixtureRequest) -> None:
    cluster = all_up
    load = Load(cluster.front_url)
    codes = []
    started = time.monotonic()
    with load.running():
        time.sleep(0.5)
        for i in range(len(cluster.replica_urls)):
            codes.append(cluster.stop_replica(i))  # drains for DRAIN_SECONDS, then stops gracefully
            cluster.start_replica(i)
            cluster.wait_backend("app", replica_name(i), "UP", 15)
        time.sleep(0.5)
    failures = load.failures()
    report(
        request,
        requests=len(load.outcomes),
        failed=len(failures),
        exit_codes=codes,
        seconds=round(time.monotonic() - started, 1),
    )
    assert codes == [0] * len(cluster.replica_urls)
    assert len(failures) == 0, _summary(failures)
    for url in cluster.replica_urls:
        assert requests_served(url, "/users") > 0, f"{url} got no traffic after its restart"


# -- slow clients ----------------------------------------------------------------------------------------------

SLOW_CLIENTS = 50


async def _slow_client(host: str, port: int, slow_body: bool, opened: list[int], all_open: asyncio.Event) -> bytes:
    """Open a request and send it a few bytes at a time, never finishing; what HAProxy answers before closing."""
    reader, writer = await asyncio.open_connection(host, port)
    opened.append(1)
    if len(opened) == SLOW_CLIENTS:
        all_open.set()
    try:
        if slow_body:
            head = (
                "POST /users HTTP/1.1\r\nHost: cluster\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            )
            writer.write(head.encode())
            trickle = b'{"email": '
        else:
            writer.write(b"GET /users?page=1 HTTP/1.1\r\nHost: cluster\r\n")
            trickle = b"X-Slow: 1\r\n"
        answer = b""
        for _ in range(40):  # up to 20 s of trickling; HAProxy should cut it at timeout http-request (5 s)
            try:
                writer.write(trickle[:1])
                trickle = trickle[1:] or trickle
                await writer.drain()
            except ConnectionError:
                break
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(4096), 0.5)
            if answer or reader.at_eof():
                break
        with contextlib.suppress(TimeoutError, ConnectionError):
            answer += await asyncio.wait_for(reader.read(), 2)
        return answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_slow_clients_never_tie_up_the_twin(all_up: Cluster, request: pytest.FixtureRequest) -> None:
    """50 requests trickling their headers or body through HAProxy while a normal client keeps being served by the
    twin (2 workers x 8 threads: without HAProxy's buffering, 16 such requests would hold every thread)."""
    cluster = all_up
    host, port = cluster.twin_front_url.removeprefix("http://").split(":")
    opened: list[int] = []
    all_open = asyncio.Event()
    slow = [
        asyncio.create_task(_slow_client(host, int(port), slow_body=i % 2 == 1, opened=opened, all_open=all_open))
        for i in range(SLOW_CLIENTS)
    ]
    latencies: list[float] = []
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=cluster.twin_front_url, timeout=10) as client:
        await asyncio.wait_for(all_open.wait(), 10)
        started = time.monotonic()
        while not all(task.done() for task in slow) and time.monotonic() - started < 15:
            t0 = time.monotonic()
            response = await client.get("/users", params={"page": 1, "per_page": 5})
            latencies.append(time.monotonic() - t0)
            statuses.append(response.status_code)
            await asyncio.sleep(0.05)
    answers = await asyncio.gather(*slow)
    cut_after = time.monotonic() - started
    timed_out = sum(1 for answer in answers if answer.startswith(b"HTTP/1.1 408"))
    latencies.sort()
    report(
        request,
        slow_clients=SLOW_CLIENTS,
        answered_408=timed_out,
        normal_requests=len(statuses),
        normal_max_ms=round(latencies[-1] * 1000, 1),
        normal_p50_ms=round(latencies[len(latencies) // 2] * 1000, 1),
        slow_ones_closed_after_s=round(cut_after, 1),
    )
    assert set(statuses) == {200}
    assert latencies[-1] < 1.0
    assert len(statuses) >= 20, "the normal client was served throughout"
    assert timed_out == SLOW_CLIENTS, [answer[:40] for answer in answers if not answer.startswith(b"HTTP/1.1 408")]
    assert cut_after < 10, "HAProxy's timeout http-request (5 s) closes them"
