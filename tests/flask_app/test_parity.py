"""Side by side: the same requests, in the same order, to both apps on identical fresh databases.

The contract says the two are indistinguishable for a client; this replays happy paths and every kind of bad input
and compares status, content type, the contract's headers and the parsed body (timestamps aside).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.config import Settings
from tests.conftest import clone_database, drop_database, make_settings
from tests.support.servers import serve_flask, serve_quart

JSON = {"Content-Type": "application/json"}
USER = {"email": "Ann@Example.com", "name": " Ann "}
# (method, path, body bytes or a JSON value, headers)
Case = tuple[str, str, Any, dict[str, str]]

CASES: list[Case] = [
    ("GET", "/health", None, {}),
    ("GET", "/ready", None, {}),
    ("POST", "/users", USER, {}),
    ("POST", "/users", USER, {}),  # 409: the email is taken
    ("GET", "/users/1", None, {}),
    ("GET", "/users/1/", None, {}),  # strict_slashes off
    ("GET", "/users/abc", None, {}),
    ("GET", "/users/0", None, {}),
    ("GET", "/users/99999999999999999999", None, {}),
    ("GET", "/users?page=0", None, {}),
    ("GET", "/users?page=x", None, {}),
    ("GET", "/users?page=1&page=2", None, {}),
    ("GET", "/users?page[]=1", None, {}),
    ("GET", "/users?per_page=1000", None, {}),
    ("GET", "/users?page=99", None, {}),
    ("GET", "/users?page=%FF", None, {}),
    ("GET", "/users/lookup?email=ann@example.com", None, {}),
    ("GET", "/users/lookup", None, {}),
    ("PATCH", "/users/1", {"name": None}, {}),
    ("PATCH", "/users/1", {"id": 5}, {}),
    ("PATCH", "/users/1", {"role": "admin"}, {}),
    ("PUT", "/users/1", {}, {}),
    ("DELETE", "/health", None, {}),
    ("POST", "/users", b"{", JSON),
    ("POST", "/users", b"", JSON),
    ("POST", "/users", b'{"email": "a@b.co", "name": NaN}', JSON),
    ("POST", "/users", b'{"email": "a@b.co", "name": Infinity}', JSON),
    ("POST", "/users", b"\xef\xbb\xbf" + json.dumps(USER).encode(), JSON),  # UTF-8 BOM
    ("POST", "/users", json.dumps(USER).encode("utf-16"), JSON),
    ("POST", "/users", b'{"email": "a@b.co", "name": "\xff"}', JSON),  # not UTF-8
    ("POST", "/users", b"[" * 100_000 + b"]" * 100_000, JSON),
    ("POST", "/users", json.dumps(USER).encode(), {"Content-Type": "text/plain"}),
    ("POST", "/users", json.dumps(USER).encode(), {}),  # no content type at all
    ("POST", "/users", json.dumps({**USER, "email": "b@b.co"}).encode(), {"Content-Type": "application/x+json"}),
    ("POST", "/users", json.dumps(USER).encode(), {"Content-Type": "application/json; charset=latin-1"}),
    ("POST", "/users", b"null", JSON),
    ("POST", "/users", [USER], {}),
    ("POST", "/users", {"email": "c@b.co", "name": "C", "extra": 1}, {}),
    ("POST", "/users", {"email": "d@b.co", "name": "x" * 256}, {}),
    ("POST", "/users", {"email": "e@b.co", "name": "nul\u0000"}, {}),
    ("POST", "/users/bulk", [], {}),
    ("POST", "/users/bulk", [{"email": "f@b.co", "name": "F"}, {"email": "f@b.co", "name": "G"}], {}),
    ("POST", "/users/bulk", [{"email": "g@b.co", "name": "G"}, {"email": "bad", "name": "H"}], {}),
    ("POST", "/users/bulk", [{"email": "g@b.co", "name": "G"}, {"email": "h@b.co", "name": "H"}], {}),
    ("GET", "/users?page=1&per_page=2", None, {}),
    ("POST", "/notifications", {"type": "fax", "message": "m"}, {}),
    ("POST", "/notifications", {"type": "email", "message": "m"}, {}),
    ("POST", "/notifications", {"type": "sms", "message": "m", "phone_number": "+1 555", "user_id": 99}, {}),
    ("POST", "/notifications", {"type": "email", "message": "hi", "email_address": "a@b.co", "user_id": 1}, {}),
    ("POST", "/notifications", {"type": "sms", "message": "yo", "phone_number": "+1 555"}, {}),
    ("GET", "/notifications", None, {}),
    ("GET", "/notifications?type=sms", None, {}),
    ("GET", "/notifications?type=fax", None, {}),
    ("GET", "/notifications/1", None, {}),
    ("GET", "/users/1/notifications", None, {}),
    ("GET", "/users/77/notifications", None, {}),
    ("POST", "/products", {"name": "widget", "stock": 30}, {}),
    ("POST", "/products", {"name": "widget", "stock": -1}, {}),
    ("POST", "/products", {"name": "widget", "stock": 1, "version_id": 3}, {}),
    ("POST", "/products", b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "stock": 1}', JSON),  # 413
    ("POST", "/products", b"x" * (2 * 1024 * 1024 + 1), {"Content-Type": "text/plain"}),
    ("PATCH", "/products/1", {"stock": 20}, {"If-Match": '"2"'}),
    ("PATCH", "/products/1", {"stock": 20}, {"If-Match": 'W/"1"'}),
    ("PATCH", "/products/1", {"stock": 20}, {"If-Match": '"1"'}),
    ("POST", "/products/1/reserve", {"quantity": 1}, {}),
    ("POST", "/products/1/reserve", {"quantity": 100}, {}),
    ("POST", "/products/1/reserve", {"quantity": 2**64}, {}),
    ("POST", "/products/1/reserve", {"quantity": "1"}, {}),
    ("POST", "/products/2/reserve", {"quantity": 1}, {}),
    ("GET", "/products/1", None, {}),
    ("DELETE", "/users/1", None, {}),
    ("DELETE", "/users/1", None, {}),
    ("GET", "/users/1", None, {}),
    ("OPTIONS", "/users", None, {}),
    ("HEAD", "/health", None, {}),
    ("GET", "/nowhere", None, {}),
]
HEADERS = ("Content-Type", "ETag", "Location", "Retry-After")
TIMESTAMPS = {"created_at", "updated_at"}


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "<ts>" if key in TIMESTAMPS else _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def _observed(response: httpx.Response) -> dict[str, Any]:
    try:
        body = _scrub(response.json()) if response.content else None
    except ValueError:
        body = response.text[:200]
    allow = response.headers.get("Allow")
    return {
        "status": response.status_code,
        "body": body,
        "allow": sorted(allow.replace(" ", "").split(",")) if allow else None,
        **{name: response.headers.get(name) for name in HEADERS},
    }


async def _replay(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    seen = []
    for method, path, body, headers in CASES:
        if isinstance(body, bytes):
            response = await client.request(method, path, content=body, headers=headers)
        elif body is None:
            response = await client.request(method, path, headers=headers)
        else:
            response = await client.request(method, path, json=body, headers=headers)
        seen.append(_observed(response))
    return seen


@pytest.fixture
async def second_settings(server_url: str, template_url: str) -> AsyncIterator[Settings]:
    url = clone_database(server_url, template_url)
    try:
        yield make_settings(url)
    finally:
        drop_database(server_url, url)


async def test_both_apps_answer_alike(settings: Settings, second_settings: Settings) -> None:
    async with serve_quart(settings) as quart, httpx.AsyncClient(base_url=quart.base_url, timeout=30) as client:
        expected = await _replay(client)
    async with serve_flask(second_settings) as flask, httpx.AsyncClient(base_url=flask.base_url, timeout=30) as client:
        got = await _replay(client)
    differences = [
        (f"{method} {path}", want, have)
        for (method, path, _, _), want, have in zip(CASES, expected, got, strict=True)
        if want != have
    ]
    assert not differences, "\n".join(f"{case}\n  quart: {want}\n  flask: {have}" for case, want, have in differences)
