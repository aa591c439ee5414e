"""Ids in paths, on both apps: anything that is no positive 64-bit integer is a 404 for every method of the path."""

from __future__ import annotations

import re

import httpx

from service.api.routes import ROUTES
from service.schemas import INT64_MAX

# Every (method, rule) of the contract with an id in its path, with a body its validation accepts.
BODIES = {"PATCH": {}, "POST": {"quantity": 1}}
ID_ROUTES = [(route.method, route.rule) for route in ROUTES if "<id:" in route.rule]
# 2**63 and above once answered 405 for PATCH/DELETE: the converter's regex took them, its to_python refused them,
# and Werkzeug then reported the methods of the path's other rules.
NO_IDS = ["9223372036854775808", "9999999999999999999", "99999999999999999999", "0", "000", "-1", "+1", "1.5", "abc"]


def _path(rule: str, value: object) -> str:
    return re.sub(r"<id:[a-z_]+>", str(value), rule)


async def test_what_is_no_id_is_404_for_every_method(client: httpx.AsyncClient) -> None:
    assert len(ID_ROUTES) == 8
    for method, rule in ID_ROUTES:
        for value in NO_IDS:
            response = await client.request(method, _path(rule, value), json=BODIES.get(method))
            where = f"{method} {_path(rule, value)}"
            assert response.status_code == 404, f"{where}: {response.status_code} {response.text}"
            assert response.headers["Content-Type"] == "application/problem+json", where
            assert response.json()["status"] == 404, where
            assert "Allow" not in response.headers, where


async def test_the_largest_id_is_an_id(client: httpx.AsyncClient) -> None:
    """2**63 - 1 reaches the handler (a 404 from the database, not the router), like any id of no row."""
    for method, rule in ID_ROUTES:
        response = await client.request(method, _path(rule, INT64_MAX), json=BODIES.get(method))
        assert response.status_code == 404, f"{method} {rule}: {response.text}"
        assert response.json()["detail"] != "no such resource", f"{method} {rule}: the router refused it"


async def test_leading_zeros_name_the_same_row(client: httpx.AsyncClient) -> None:
    created = await client.post("/products", json={"name": "p", "stock": 5})
    product_id = created.json()["id"]
    for path in (f"/products/{product_id:05d}", f"/products/000{product_id}"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json()["id"] == product_id
