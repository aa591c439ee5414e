"""Products: optimistic locking over HTTP, on both apps."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.models import Product


async def _create(client: httpx.AsyncClient, stock: int = 10, name: str = "widget") -> dict[str, object]:
    response = await client.post("/products", json={"name": name, "stock": stock})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_and_get(client: httpx.AsyncClient) -> None:
    response = await client.post("/products", json={"name": "Widget", "stock": 3})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "stock", "version_id", "created_at", "updated_at"}
    assert body["version_id"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/products/{body['id']}"
    got = await client.get(f"/products/{body['id']}")
    assert got.status_code == 200
    assert got.json() == body
    assert got.headers["ETag"] == '"1"'
    assert (await client.get("/products/424242")).status_code == 404


async def test_patch_bumps_version_and_honours_if_match(client: httpx.AsyncClient) -> None:
    product = await _create(client)
    url = f"/products/{product['id']}"
    patched = await client.patch(url, json={"stock": 7}, headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["version_id"] == 2
    assert patched.json()["stock"] == 7
    assert patched.headers["ETag"] == '"2"'
    assert patched.json()["updated_at"] > product["updated_at"]
    stale = await client.patch(url, json={"stock": 1}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["Content-Type"] == "application/problem+json"
    assert (await client.get(url)).json()["stock"] == 7  # the refused PATCH changed nothing
    assert (await client.patch(url, json={"name": "renamed"})).json()["version_id"] == 3  # no If-Match: allowed
    assert (await client.patch(url, json={"name": "x"}, headers={"If-Match": "*"})).status_code == 200
    assert (await client.patch(url, json={"name": "x"}, headers={"If-Match": 'W/"4"'})).status_code == 412
    assert (await client.patch("/products/999999", json={"stock": 1})).status_code == 404
    assert (await client.patch(url, json={"stock": -1})).status_code == 422
    assert (await client.patch(url, json={"version_id": 9})).status_code == 422


async def test_reserve(client: httpx.AsyncClient) -> None:
    product = await _create(client, stock=5)
    url = f"/products/{product['id']}/reserve"
    response = await client.post(url, json={"quantity": 2})
    assert response.status_code == 200
    assert response.json()["stock"] == 3
    assert response.json()["version_id"] == 2
    assert response.headers["ETag"] == '"2"'
    refused = await client.post(url, json={"quantity": 4})
    assert refused.status_code == 409
    assert refused.json()["detail"] == "insufficient stock"
    after = (await client.get(f"/products/{product['id']}")).json()
    assert (after["stock"], after["version_id"]) == (3, 2)  # insufficient stock changes nothing
    for bad in ({"quantity": 0}, {"quantity": -1}, {"quantity": "1"}, {"quantity": 1.5}, {}, {"quantity": 2**64}):
        assert (await client.post(url, json=bad)).status_code == 422, bad
    assert (await client.post("/products/999999/reserve", json={"quantity": 1})).status_code == 404


async def test_fifty_concurrent_reserves_never_lose_an_update(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    product = await _create(client, stock=30)
    url = f"/products/{product['id']}/reserve"
    responses = await asyncio.gather(*(client.post(url, json={"quantity": 1}) for _ in range(50)))
    statuses = Counter(r.status_code for r in responses)
    details = Counter(r.json().get("detail") for r in responses if r.status_code == 409)
    assert statuses == {200: 30, 409: 20}, (statuses, details)
    async with engine.connect() as conn:
        stock, version = (await conn.execute(select(Product.stock, Product.version_id))).one()
    assert stock == 0
    assert version == 1 + statuses[200]
