"""Operations endpoints and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from service.api.openapi import openapi_document
from service.config import Settings
from tests.conftest import make_settings
from tests.support.servers import serve_flask, serve_quart


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_unreachable_database(kind: str, settings: Settings) -> None:
    # A port nothing listens on: /health stays up (no database call), everything else is 503 + Retry-After.
    dead = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", connect_timeout=1.0, retry_after_seconds=3)
    serve = serve_quart if kind == "quart" else serve_flask
    async with serve(dead) as server, httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        assert (await client.get("/health")).status_code == 200
        for method, path, body in (
            ("GET", "/ready", None),
            ("GET", "/users/1", None),
            ("POST", "/users", {"email": "a@b.co", "name": "x"}),
            ("POST", "/products/1/reserve", {"quantity": 1}),
        ):
            response = await client.request(method, path, json=body)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Retry-After"] == "3"
            assert response.headers["Content-Type"] == "application/problem+json"
            assert "127.0.0.1:1" not in response.text
            assert "nowhere" not in response.text


async def test_openapi_and_docs(quart_client: httpx.AsyncClient) -> None:
    document = (await quart_client.get("/openapi.json")).json()
    paths = document["paths"]
    for path in ("/users", "/users/{user_id}", "/users/bulk", "/notifications", "/products/{product_id}/reserve"):
        assert path in paths, path
    assert "requestBody" in paths["/users"]["post"]
    assert document == openapi_document()  # the contract's document (tests/unit/test_openapi.py), not an inferred one
    docs = await quart_client.get("/docs")
    assert docs.status_code == 200
    assert "openapi.json" in docs.text
