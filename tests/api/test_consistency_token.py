"""``X-Consistency-Token`` (API v1.1) on both apps, with no standby configured: every committed write carries one,
every read accepts one back; a malformed token or one ahead of the primary is a 400 problem.

The routing of reads to standbys by token is proven on a real primary and standby in ``tests/cluster``.
"""

from __future__ import annotations

import re

import httpx
import psycopg
import pytest

from service.replication.tokens import format_token, parse_lsn, parse_token

TOKEN = re.compile(r"^1\.[0-9a-f]{1,16}$")


def primary_lsn(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return parse_lsn(row[0])


def token_of(response: httpx.Response) -> int:
    token = response.headers["X-Consistency-Token"]
    assert TOKEN.match(token), token
    lsn = parse_token(token)
    assert lsn is not None
    return lsn


async def test_every_committed_write_carries_a_token_that_grows(client: httpx.AsyncClient, database_url: str) -> None:
    before = primary_lsn(database_url)
    created = await client.post("/users", json={"email": "token@example.com", "name": "T"})
    url = created.headers["Location"]
    product = await client.post("/products", json={"name": "Widget", "stock": 5})
    writes = [
        created,
        product,
        await client.patch(url, json={"name": "T2"}),
        await client.post("/users/bulk", json=[{"email": f"tb{i}@example.com", "name": "B"} for i in range(3)]),
        await client.post("/notifications", json={"type": "sms", "message": "m", "phone_number": "+1555"}),
        await client.patch(f"/products/{product.json()['id']}", json={"stock": 7}),
        await client.post(f"/products/{product.json()['id']}/reserve", json={"quantity": 2}),
        await client.delete(url),
    ]
    assert [w.status_code for w in writes] == [201, 201, 200, 201, 201, 200, 200, 204]
    tokens = [token_of(w) for w in writes]
    assert tokens == sorted(tokens)
    assert tokens[0] > before  # the commit's position: after everything before it
    assert tokens[-1] <= primary_lsn(database_url)


async def test_failed_writes_and_reads_carry_none(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post("/users", json={"email": "not an email"}),
        await client.patch("/users/999999", json={"name": "x"}),
        await client.delete("/users/999999"),
        await client.get("/users"),
        await client.get("/health"),
    ]
    assert [a.status_code for a in answers] == [422, 404, 404, 200, 200]
    assert [a.headers.get("X-Consistency-Token") for a in answers] == [None] * 5


async def test_a_read_with_its_writes_token_sees_the_write(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"email": "ryw@example.com", "name": "R"})
    token = created.headers["X-Consistency-Token"]
    read = await client.get(created.headers["Location"], headers={"X-Consistency-Token": token})
    assert (read.status_code, read.json()["email"]) == (200, "ryw@example.com")
    listed = await client.get("/users", headers={"X-Consistency-Token": token})
    assert listed.status_code == 200


async def test_a_token_of_another_process_is_accepted(client: httpx.AsyncClient, database_url: str) -> None:
    """Written by someone else since this server last looked at the primary: it asks the primary, then serves."""
    await client.get("/health")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (email, name) VALUES ('elsewhere@example.com', 'E')")
    token = format_token(primary_lsn(database_url))
    read = await client.get(
        "/users/lookup", params={"email": "elsewhere@example.com"}, headers={"X-Consistency-Token": token}
    )
    assert read.status_code == 200


@pytest.mark.parametrize(
    "sent", ["abc", "1.", "2.10", "1.xyz", "1.10.2", "1." + "f" * 17, "1.-1", "1.AB", "1.1 1", "0/16B3748"]
)
async def test_a_malformed_token_is_a_400_problem(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/users", headers={"X-Consistency-Token": sent})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "X-Consistency-Token" in response.json()["detail"]


async def test_a_token_from_the_future_is_a_400_problem(client: httpx.AsyncClient, database_url: str) -> None:
    ahead = format_token(primary_lsn(database_url) + (1 << 36))
    response = await client.get("/users", headers={"X-Consistency-Token": ahead})
    assert response.status_code == 400
    assert "has not reached" in response.json()["detail"]
