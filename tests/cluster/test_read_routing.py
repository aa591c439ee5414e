"""Read routing on the real topology, through HAProxy, both apps: reads land on the standby, writes never do, a
read with a write's ``X-Consistency-Token`` never misses that write (replay paused or not), and a stopped standby
costs clients nothing.

Every load here is a bounded number of asyncio clients for a bounded time, on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from cluster import Cluster, replica_name
from tests.support.processes import metric, report

pytestmark = pytest.mark.slow

CLIENTS = 12


def app_urls(cluster: Cluster, app: str) -> list[str]:
    """The servers of ``app`` ("async": the replicas; "twin"), reached directly for their /metrics."""
    return list(cluster.replica_urls) if app == "async" else [cluster.twin_url]


def front(cluster: Cluster, app: str) -> str:
    return cluster.front_url if app == "async" else cluster.twin_front_url


def total(urls: list[str], name: str) -> float:
    return sum(metric(httpx.get(f"{url}/metrics", timeout=5).text, name) for url in urls)


def standby_backends(cluster: Cluster) -> set[str]:
    with psycopg.connect(cluster.standby_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        return {name for (name,) in rows if name}


def on_standby(cluster: Cluster, statement: str) -> None:
    with psycopg.connect(cluster.standby_dsn, autocommit=True) as conn:
        conn.execute(statement)


@dataclass
class Tally:
    reads: int = 0
    stale: int = 0
    failures: list[str] = field(default_factory=list)


async def run_clients(
    base_url: str, seconds: float, step: Callable[[httpx.AsyncClient, int, Tally], Awaitable[None]]
) -> Tally:
    """:data:`CLIENTS` clients repeating ``step`` for ``seconds``; any exception is a failure, counted."""
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def client(number: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            while time.monotonic() < deadline:
                try:
                    await step(http, number, tally)
                except Exception as exc:
                    tally.failures.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(client(number) for number in range(CLIENTS)))
    return tally


@pytest.mark.parametrize("app", ["async", "twin"])
def test_reads_land_on_the_standby_and_writes_never_do(cluster: Cluster, app: str) -> None:
    urls = app_urls(cluster, app)
    with httpx.Client(base_url=front(cluster, app), timeout=10) as http:
        reads_before = total(urls, 'db_reads_total{target="replica"}')
        for _ in range(6):
            assert http.get("/users").status_code == 200
        reads_after = total(urls, 'db_reads_total{target="replica"}')
        writes = [http.post("/users", json={"email": f"w{n}-{app}@example.com", "name": "W"}) for n in range(10)]
        after_writes = total(urls, 'db_reads_total{target="replica"}') + total(urls, 'db_reads_total{target="primary"}')
    assert reads_after - reads_before == 6
    assert [w.status_code for w in writes] == [201] * 10  # a standby would have refused them
    # No write request's session went through the read routing at all (a read-only session counts a read).
    assert after_writes == total(urls, 'db_reads_total{target="replica"}') + total(
        urls, 'db_reads_total{target="primary"}'
    )
    names = {"async": {replica_name(i) for i in range(len(cluster.replica_urls))}, "twin": {"twin"}}[app]
    assert names <= standby_backends(cluster), "each server's pool holds connections to the standby"


@pytest.mark.parametrize("app", ["async", "twin"])
def test_no_stale_read_with_a_token_even_with_replay_paused(
    cluster: Cluster, app: str, request: pytest.FixtureRequest
) -> None:
    """Each client renames its own user to a growing number, then reads it back twice: with the rename's token (it
    must show that number) and with the token of a rename half a second old (at least that number: most of these
    are the standby's). Replay on the standby is paused for the middle third of the run. A read without a token may
    be stale (up to DB_REPLICA_MAX_LAG), never an error."""
    urls = app_urls(cluster, app)
    with httpx.Client(base_url=front(cluster, app), timeout=10) as http:
        users = []
        for number in range(CLIENTS):
            created = http.post("/users", json={"email": f"ryw{number}-{app}@example.com", "name": "0"})
            assert created.status_code == 201, created.text
            users.append(created.headers["Location"])
    # Every user on the standby before the run, so that a read without a token finds it there. (The apps' lag
    # gauge cannot say so: it is sampled every 250 ms, and may predate the last of these writes.)
    cluster.wait_standby_replayed()
    plain = Tally()

    async def step(http: httpx.AsyncClient, number: int, tally: Tally) -> None:
        history: list[tuple[float, int, str]] = steps.setdefault(number, [])
        seq = len(history) + 1
        patched = await http.patch(users[number], json={"name": str(seq)})
        assert patched.status_code == 200, patched.text
        history.append((time.monotonic(), seq, patched.headers["X-Consistency-Token"]))
        older = [(s, token) for at, s, token in history if at < time.monotonic() - 0.5]
        for expected, token in [(seq, history[-1][2]), *older[-1:]]:
            read = await http.get(users[number], headers={"X-Consistency-Token": token})
            assert read.status_code == 200, read.text
            tally.reads += 1
            if int(read.json()["name"]) < expected:
                tally.stale += 1
        untokened = await http.get(users[number])
        plain.reads += 1
        if untokened.status_code != 200:
            plain.failures.append(f"{untokened.status_code}: {untokened.text}")

    steps: dict[int, list[tuple[float, int, str]]] = {}

    async def run() -> Tally:
        load = asyncio.create_task(run_clients(front(cluster, app), 15.0, step))
        await asyncio.sleep(5.0)
        await asyncio.to_thread(on_standby, cluster, "SELECT pg_wal_replay_pause()")
        try:
            await asyncio.sleep(5.0)
        finally:
            await asyncio.to_thread(on_standby, cluster, "SELECT pg_wal_replay_resume()")
        return await load

    behind_before = total(urls, 'db_read_fallbacks_total{reason="behind_token"}')
    replica_before = total(urls, 'db_reads_total{target="replica"}')
    tally = asyncio.run(run())
    behind = total(urls, 'db_read_fallbacks_total{reason="behind_token"}') - behind_before
    replica = total(urls, 'db_reads_total{target="replica"}') - replica_before
    report(
        request,
        tokened_reads=tally.reads,
        stale=tally.stale,
        untokened_reads=plain.reads,
        behind_token=behind,
        replica_reads=replica,
    )
    assert tally.failures == []
    assert plain.failures == []
    assert tally.stale == 0
    assert tally.reads >= 1000, "thousands of reads between both apps: each at least a thousand"
    assert behind > 0, "reads with a fresh token went to the primary"
    assert replica > plain.reads, "reads with an older token were served by the standby too"


@pytest.mark.parametrize("app", ["async", "twin"])
def test_a_stopped_standby_costs_reads_nothing_and_they_return_to_it(
    cluster: Cluster, app: str, request: pytest.FixtureRequest
) -> None:
    urls = app_urls(cluster, app)

    async def step(http: httpx.AsyncClient, number: int, tally: Tally) -> None:
        response = await http.get("/users")
        tally.reads += 1
        if response.status_code != 200:
            tally.failures.append(f"{response.status_code}: {response.text}")

    async def run() -> Tally:
        load = asyncio.create_task(run_clients(front(cluster, app), 6.0, step))
        await asyncio.sleep(1.5)
        try:
            await asyncio.to_thread(cluster.stop_standby)
            await asyncio.sleep(2.0)
        finally:
            await asyncio.to_thread(cluster.start_standby)
        return await load

    down_before = total(urls, 'db_read_fallbacks_total{reason="down"}')
    tally = asyncio.run(run())
    fell_back = total(urls, 'db_read_fallbacks_total{reason="down"}') - down_before
    replica_before = total(urls, 'db_reads_total{target="replica"}')
    with httpx.Client(base_url=front(cluster, app), timeout=10) as http:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and total(urls, 'db_reads_total{target="replica"}') == replica_before:
            assert http.get("/users").status_code == 200
    report(request, reads=tally.reads, failures=len(tally.failures), fell_back=fell_back)
    assert tally.failures == []
    assert tally.reads > 100
    assert fell_back > 0
    assert total(urls, 'db_reads_total{target="replica"}') > replica_before, "reads returned to the standby"
