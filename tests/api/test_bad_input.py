"""Bad input, table-driven, on both apps: the documented status, problem+json, and nothing leaked."""

from __future__ import annotations

import httpx
import pytest

FORBIDDEN = ("Traceback", "SELECT", "INSERT", "asyncpg", "psycopg", "sqlalchemy", "postgresql://", 'File "', ".py")
JSON = {"Content-Type": "application/json"}

# (method, path, raw body or None, headers, expected status)
CASES: list[tuple[str, str, bytes | None, dict[str, str], int]] = [
    ("POST", "/users", b'{"email": "a@b.co", "name": ', JSON, 400),  # malformed JSON
    ("POST", "/users", b"\xff\xfe{}", JSON, 400),  # not UTF-8
    ("POST", "/users", b'{"email": "a@b.co", "name": "x"}', {"Content-Type": "text/plain"}, 415),
    ("POST", "/users", b'{"email": "a@b.co", "name": "x"}', {}, 415),  # no content type at all
    ("POST", "/users", b"email=a@b.co&name=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
    ("POST", "/users", b'{"email": "a@b.co", "name": 123}', JSON, 422),  # wrong type
    ("POST", "/users", b'{"email": "a@b.co", "name": "x", "admin": true}', JSON, 422),  # unknown field
    ("POST", "/users", b'{"email": "a@b.co", "name": "x", "id": 5}', JSON, 422),  # client-supplied id
    ("POST", "/users", b'{"email": "a@b.co", "name": "x", "created_at": "2020-01-01T00:00:00Z"}', JSON, 422),
    ("POST", "/users", b'{"email": "a@b.co", "name": "x", "deleted_at": null}', JSON, 422),
    ("POST", "/users", b'{"email": "a@b.co", "name": "a\\u0000b"}', JSON, 422),  # NUL byte
    ("POST", "/users", b'{"email": "a@b.co", "name": "' + b"x" * 300 + b'"}', JSON, 422),  # over column length
    ("POST", "/users", b"[1, 2]", JSON, 422),  # JSON, wrong shape
    ("POST", "/users", b'"just a string"', JSON, 422),
    ("POST", "/users", b"null", JSON, 422),
    ("POST", "/users", b"[" * 100_000 + b"]" * 100_000, JSON, 400),  # nested too deep
    ("POST", "/products", b'{"name": "p", "stock": 99999999999999999999999}', JSON, 422),  # beyond 64 bits
    ("POST", "/products", b'{"name": "p", "stock": 9223372036854775808}', JSON, 422),  # 2**63
    ("POST", "/products", b'{"name": "p", "stock": NaN}', JSON, 400),  # not JSON
    ("POST", "/products", b'{"name": "p", "stock": Infinity}', JSON, 400),
    ("POST", "/products", b'{"name": "p", "stock": -1}', JSON, 422),
    ("POST", "/products", b'{"name": "p", "stock": 1.0}', JSON, 422),
    ("POST", "/products", b'{"name": "p", "stock": true}', JSON, 422),
    ("POST", "/products", b'{"name": "p", "stock": 1, "version_id": 7}', JSON, 422),
    ("POST", "/products/1/reserve", b'{"quantity": -5}', JSON, 422),
    ("GET", "/users/abc", None, {}, 404),  # non-integer id
    ("GET", "/users/-1", None, {}, 404),
    ("GET", "/users/0", None, {}, 404),
    ("GET", "/users/1.5", None, {}, 404),
    ("GET", "/users/99999999999999999999", None, {}, 404),  # beyond bigint
    ("GET", "/users/9223372036854775808", None, {}, 404),
    ("GET", "/nowhere", None, {}, 404),
    ("GET", "/bench/latency", None, {}, 404),  # benchmark-only route, off by default
    ("PUT", "/users/1", None, {}, 405),
    ("DELETE", "/users", None, {}, 405),
    ("GET", "/users?page=x", None, {}, 400),
    ("GET", "/users?per_page=-3", None, {}, 400),
    ("GET", "/users/lookup?email=a%00b", None, {}, 400),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"), CASES, ids=[f"{c[0]} {c[1][:40]} {c[4]}" for c in CASES]
)
async def test_bad_input(
    client: httpx.AsyncClient, method: str, path: str, body: bytes | None, headers: dict[str, str], status: int
) -> None:
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    for word in FORBIDDEN:
        assert word not in response.text, word
    if status == 405:
        assert response.headers["Allow"]
    if status == 422:
        assert problem["errors"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"email": "a@b.co", "name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post("/users", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "text",
    ["Robert'); DROP TABLE users;--", "' OR '1'='1", "1; SELECT pg_sleep(10)", "$$; --", "\\x00", "☃ 💥 ñ"],
)
async def test_injection_strings_are_stored_verbatim(client: httpx.AsyncClient, text: str) -> None:
    created = await client.post("/users", json={"email": "inj@example.com", "name": text})
    assert created.status_code == 201, created.text
    assert (await client.get(f"/users/{created.json()['id']}")).json()["name"] == text
    assert (await client.get("/users")).json()["total"] == 1
