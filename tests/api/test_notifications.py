"""Notifications: single-table inheritance over HTTP, on both apps."""

from __future__ import annotations

import httpx


async def _user(client: httpx.AsyncClient, email: str = "n@example.com") -> int:
    response = await client.post("/users", json={"email": email, "name": "N"})
    assert response.status_code == 201
    return int(response.json()["id"])


async def test_create_each_kind(client: httpx.AsyncClient) -> None:
    user_id = await _user(client)
    email = await client.post(
        "/notifications", json={"type": "email", "message": "hi", "email_address": "to@example.com", "user_id": user_id}
    )
    assert email.status_code == 201, email.text
    body = email.json()
    assert set(body) == {"id", "type", "message", "user_id", "created_at", "email_address"}
    assert (body["type"], body["user_id"], body["email_address"]) == ("email", user_id, "to@example.com")
    sms = await client.post("/notifications", json={"type": "sms", "message": "yo", "phone_number": "+15551234"})
    assert sms.status_code == 201
    assert set(sms.json()) == {"id", "type", "message", "user_id", "created_at", "phone_number"}
    assert sms.json()["user_id"] is None
    got = await client.get(f"/notifications/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body
    assert (await client.get("/notifications/99999")).status_code == 404


async def test_invalid_notifications_are_422(client: httpx.AsyncClient) -> None:
    user_id = await _user(client)
    await client.delete(f"/users/{user_id}")
    for body in (
        {"type": "fax", "message": "m"},
        {"message": "m", "email_address": "a@b.co"},
        {"type": "email", "message": "m"},
        {"type": "sms", "message": "m"},
        {"type": "sms", "message": "m", "email_address": "a@b.co"},
        {"type": "email", "message": "m", "email_address": "a@b.co", "user_id": 424242},
        {"type": "email", "message": "m", "email_address": "a@b.co", "user_id": user_id},  # soft-deleted user
        {"type": "email", "message": "", "email_address": "a@b.co"},
        {"type": "sms", "message": "m", "phone_number": "1" * 21},
    ):
        response = await client.post("/notifications", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await client.get("/notifications")).json()["total"] == 0


async def test_list_mixes_kinds_newest_first_and_filters(client: httpx.AsyncClient) -> None:
    ids = []
    for i in range(3):
        e = await client.post("/notifications", json={"type": "email", "message": f"e{i}", "email_address": "a@b.co"})
        s = await client.post("/notifications", json={"type": "sms", "message": f"s{i}", "phone_number": "+1555"})
        ids += [e.json()["id"], s.json()["id"]]
    page = (await client.get("/notifications?per_page=4")).json()
    assert [n["id"] for n in page["items"]] == ids[::-1][:4]
    assert page["total"] == 6
    for item in page["items"]:
        assert ("email_address" in item) == (item["type"] == "email")
        assert ("phone_number" in item) == (item["type"] == "sms")
    only_sms = (await client.get("/notifications", params={"type": "sms"})).json()
    assert {n["type"] for n in only_sms["items"]} == {"sms"}
    assert only_sms["total"] == 3
    assert (await client.get("/notifications?type=fax")).status_code == 400
    assert (await client.get("/notifications?page=0")).status_code == 400


async def test_user_notifications(client: httpx.AsyncClient) -> None:
    user_id = await _user(client)
    other = await _user(client, "other@example.com")
    for uid in (user_id, user_id, other):
        await client.post(
            "/notifications", json={"type": "sms", "message": "m", "phone_number": "+1555", "user_id": uid}
        )
    page = (await client.get(f"/users/{user_id}/notifications")).json()
    assert page["total"] == 2
    assert {n["user_id"] for n in page["items"]} == {user_id}
    assert (await client.get("/users/424242/notifications")).status_code == 404
    await client.delete(f"/users/{user_id}")
    assert (await client.get(f"/users/{user_id}/notifications")).status_code == 404
