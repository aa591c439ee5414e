"""Users: every row of the contract's table, on both apps."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

USER_FIELDS = {"id", "email", "name", "role", "is_active", "created_at", "updated_at"}


async def _create(client: httpx.AsyncClient, email: str, name: str = "Ada") -> dict[str, object]:
    response = await client.post("/users", json={"email": email, "name": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"email": "ada@example.com", "name": "Ada Lovelace"})
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    user = response.json()
    assert set(user) == USER_FIELDS
    assert user["role"] == "member"
    assert user["is_active"] is True
    assert response.headers["Location"] == f"/users/{user['id']}"
    created = datetime.fromisoformat(user["created_at"])
    assert created.utcoffset() is not None  # ISO 8601 with a UTC offset


async def test_duplicate_email_is_409_and_case_insensitive(client: httpx.AsyncClient) -> None:
    await _create(client, "dup@example.com")
    response = await client.post("/users", json={"email": "DUP@example.com", "name": "Other"})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 409


async def test_invalid_users_are_422(client: httpx.AsyncClient) -> None:
    for body in (
        {"email": "not-an-email", "name": "x"},
        {"email": "a@b.co"},
        {"email": "a@b.co", "name": ""},
        {"email": "a@b.co", "name": "   "},
        {"email": "a@b.co", "name": "x" * 256},
        {"email": "a@b.co", "name": 5},
        {"email": "a@b.co", "name": "x", "role": "admin"},
    ):
        response = await client.post("/users", json=body)
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["errors"]
        assert all({"loc", "msg"} <= set(error) for error in problem["errors"])


async def test_get_user(client: httpx.AsyncClient) -> None:
    user = await _create(client, "get@example.com")
    response = await client.get(f"/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user
    assert (await client.get("/users/987654")).status_code == 404


async def test_list_users_pages_active_live_newest_first(client: httpx.AsyncClient) -> None:
    ids = [int((await _create(client, f"u{i}@example.com", f"U{i}"))["id"]) for i in range(5)]
    await client.patch(f"/users/{ids[1]}", json={"is_active": False})
    await client.delete(f"/users/{ids[2]}")
    page = (await client.get("/users", params={"page": 1, "per_page": 2})).json()
    assert set(page) == {"items", "page", "per_page", "total", "pages", "has_next", "has_prev", "next_num", "prev_num"}
    assert [u["id"] for u in page["items"]] == [ids[4], ids[3]]
    assert (page["total"], page["pages"], page["has_next"], page["has_prev"]) == (3, 2, True, False)
    assert (page["next_num"], page["prev_num"]) == (2, None)
    second = (await client.get("/users?page=2&per_page=2")).json()
    assert [u["id"] for u in second["items"]] == [ids[0]]
    assert (second["has_next"], second["has_prev"], second["next_num"], second["prev_num"]) == (False, True, None, 1)
    past = await client.get("/users?page=9&per_page=2")
    assert past.status_code == 200
    assert past.json()["items"] == []
    defaults = (await client.get("/users")).json()
    assert (defaults["page"], defaults["per_page"]) == (1, 20)
    assert (await client.get("/users?per_page=1000")).json()["per_page"] == 100  # clamped


async def test_list_order_ties_break_on_id(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    a = await _create(client, "tie1@example.com")
    b = await _create(client, "tie2@example.com")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET created_at = '2026-01-01T00:00:00Z'"))
    items = (await client.get("/users")).json()["items"]
    assert [u["id"] for u in items] == [b["id"], a["id"]]


async def test_bad_page_parameters_are_400(client: httpx.AsyncClient) -> None:
    for query in ("page=0", "page=-1", "page=abc", "per_page=0", "per_page=1.5", "page=", "page=99999999999999999999"):
        response = await client.get(f"/users?{query}")
        assert response.status_code == 400, query
        assert response.headers["Content-Type"] == "application/problem+json"


async def test_lookup_by_email(client: httpx.AsyncClient) -> None:
    user = await _create(client, "look@example.com")
    response = await client.get("/users/lookup", params={"email": "look@example.com"})
    assert response.status_code == 200
    assert response.json() == user
    assert (await client.get("/users/lookup", params={"email": "LOOK@example.com"})).json() == user
    assert (await client.get("/users/lookup", params={"email": "nobody@example.com"})).status_code == 404
    assert (await client.get("/users/lookup")).status_code == 400


async def test_patch_user(client: httpx.AsyncClient) -> None:
    user = await _create(client, "patch@example.com")
    response = await client.patch(f"/users/{user['id']}", json={"name": "New", "role": "admin", "is_active": False})
    assert response.status_code == 200
    patched = response.json()
    assert (patched["name"], patched["role"], patched["is_active"]) == ("New", "admin", False)
    assert patched["updated_at"] > user["updated_at"]
    assert patched["created_at"] == user["created_at"]
    again = (await client.patch(f"/users/{user['id']}", json={})).json()
    assert again["updated_at"] > patched["updated_at"]  # every PATCH advances updated_at
    assert (await client.patch("/users/999999", json={"name": "x"})).status_code == 404
    for body in ({"name": None}, {"email": "x@y.zz"}, {"is_active": "yes"}, {"role": "Bad Role"}, {"id": 3}):
        assert (await client.patch(f"/users/{user['id']}", json=body)).status_code == 422, body


async def test_delete_is_soft_and_frees_the_email(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    user = await _create(client, "gone@example.com")
    response = await client.delete(f"/users/{user['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/users/{user['id']}")).status_code == 404
    assert (await client.delete(f"/users/{user['id']}")).status_code == 404
    assert (await client.patch(f"/users/{user['id']}", json={"name": "x"})).status_code == 404
    assert (await client.get("/users/lookup", params={"email": "gone@example.com"})).status_code == 404
    async with engine.connect() as conn:
        deleted_at = (
            await conn.execute(text("SELECT deleted_at FROM users WHERE id = :id"), {"id": user["id"]})
        ).scalar_one()
    assert deleted_at is not None  # the row stays
    again = await _create(client, "gone@example.com")
    assert again["id"] != user["id"]


async def test_bulk_insert(client: httpx.AsyncClient) -> None:
    rows = [{"email": f"bulk{i}@example.com", "name": f"B{i}"} for i in range(50)]
    response = await client.post("/users/bulk", json=rows)
    assert response.status_code == 201
    assert response.json() == {"inserted": 50}
    page = (await client.get("/users?per_page=100")).json()
    assert page["total"] == 50
    assert all(u["role"] == "member" and u["is_active"] for u in page["items"])


async def test_bulk_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    await _create(client, "taken@example.com")
    repeated = [{"email": "r@example.com", "name": "a"}, {"email": "s@example.com", "name": "b"}] * 2
    response = await client.post("/users/bulk", json=repeated)
    assert response.status_code == 409
    assert "0" in response.json()["detail"]
    assert "2" in response.json()["detail"]
    taken = [{"email": "new@example.com", "name": "a"}, {"email": "taken@example.com", "name": "b"}]
    assert (await client.post("/users/bulk", json=taken)).status_code == 409
    bad = [{"email": "ok@example.com", "name": "a"}, {"email": "ok2@example.com", "name": "b"}, {"email": "bad"}]
    invalid = await client.post("/users/bulk", json=bad)
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"][0] == 2
    assert "row 2" in invalid.json()["detail"]
    assert (await client.post("/users/bulk", json=[])).status_code == 422
    assert (await client.post("/users/bulk", json={"email": "a@b.co", "name": "x"})).status_code == 422
    assert (await client.get("/users")).json()["total"] == 1  # nothing of the refused batches landed


async def test_bulk_limits(client: httpx.AsyncClient) -> None:
    rows = [{"email": f"m{i}@example.com", "name": "n"} for i in range(10_000)]
    response = await client.post("/users/bulk", json=rows)
    assert response.status_code == 201, response.text[:300]
    assert response.json() == {"inserted": 10_000}
    too_many = [{"email": f"x{i}@e.io", "name": "n"} for i in range(10_001)]
    assert (await client.post("/users/bulk", json=too_many)).status_code == 422


async def test_concurrent_registrations_of_one_email(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/users", json={"email": "race@example.com", "name": "r"}) for _ in range(10))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
