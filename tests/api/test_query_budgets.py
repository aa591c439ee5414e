"""N+1 budgets: a page of 100 items costs a constant number of statements on every list endpoint, on both apps."""

from __future__ import annotations

import httpx
import pytest

from tests.support.queries import assert_max_queries
from tests.support.servers import LiveServer


@pytest.fixture
async def filled(client: httpx.AsyncClient) -> int:
    users = [{"email": f"q{i}@example.com", "name": f"Q{i}"} for i in range(120)]
    assert (await client.post("/users/bulk", json=users)).status_code == 201
    user_id = int((await client.get("/users/lookup", params={"email": "q0@example.com"})).json()["id"])
    for i in range(110):
        body = (
            {"type": "email", "message": f"m{i}", "email_address": "a@b.co", "user_id": user_id}
            if i % 2
            else {"type": "sms", "message": f"m{i}", "phone_number": "+1555", "user_id": user_id}
        )
        assert (await client.post("/notifications", json=body)).status_code == 201
    return user_id


@pytest.mark.parametrize(
    ("path", "budget"),
    [
        ("/users?per_page=100", 2),  # the page and its count
        ("/notifications?per_page=100", 2),
        ("/notifications?type=email&per_page=100", 2),
        ("/users/{user_id}/notifications?per_page=100", 3),  # plus the user's existence check
    ],
)
async def test_list_endpoints_have_a_constant_statement_budget(
    client: httpx.AsyncClient, live_server: LiveServer, filled: int, path: str, budget: int
) -> None:
    with assert_max_queries(live_server, budget) as log:
        response = await client.get(path.format(user_id=filled))
    assert response.status_code == 200
    assert len(response.json()["items"]) >= 55
    assert len(log) >= 2  # the guard sees the statements (it could not pass by seeing nothing)


async def test_the_guard_fails_over_budget(client: httpx.AsyncClient, live_server: LiveServer, filled: int) -> None:
    with pytest.raises(AssertionError, match="statements > budget 1"):
        with assert_max_queries(live_server, 1):
            await client.get("/users")
