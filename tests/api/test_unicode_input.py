"""Lone surrogates (issue 12) and undecodable query bytes, on both apps.

JSON may spell half a UTF-16 pair as an escape (``"\\ud800"``): Python's parser hands on a ``str`` holding a lone
surrogate, which PostgreSQL cannot store (it was a 500 from the driver). Every string field refuses one with a
problem naming the field; a valid escaped pair is an ordinary character. Schemathesis never generates these, so they
are spelled out here, as raw bytes: httpx's ``json=`` would send the character UTF-8 encoded, or fail to.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

JSON = {"Content-Type": "application/json"}
HIGH, LOW = "\ud800", "\udfff"  # the first half of a pair, the second half of one
EMOJI = "\U0001f600"  # sent as the escaped pair "\ud83d\ude00"


def escaped(value: Any) -> bytes:
    """``value`` as a JSON body, every non-ASCII character escaped: a lone surrogate becomes ``"\\udXXX"``."""
    text = json.dumps(value, ensure_ascii=True)
    assert text.isascii()
    return text.encode()


def _texts(value: Any) -> list[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *_texts(item))]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def assert_problem(response: httpx.Response, status: int, *names: str) -> dict[str, Any]:
    """A problem of ``status`` that names each of ``names`` and carries no surrogate, not even as an escape."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/problem+json"
    # Strict UTF-8, and no lone surrogate even as a "\\udXXX" escape, which strict JSON readers refuse or mangle.
    problem: dict[str, Any] = json.loads(response.content.decode("utf-8"))
    for text in _texts(problem):
        text.encode("utf-8")
    assert problem["status"] == status
    named = problem["detail"] + " " + json.dumps(problem.get("errors", []))
    for name in names:
        assert name in named, (name, problem)
    return problem


async def test_the_issue_s_request_is_a_422(client: httpx.AsyncClient) -> None:
    """The report, byte for byte: a 500 (the driver's DBAPIError) before the fix."""
    response = await client.post("/users", content=b'{"email":"s@example.com","name":"\\ud800"}', headers=JSON)
    problem = assert_problem(response, 422, "name", "lone surrogate")
    assert [error["loc"] for error in problem["errors"]] == [["name"]]
    assert (await client.get("/users")).json()["total"] == 0


# (path, body, the field the problem names)
CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("/users", {"email": "s@example.com", "name": HIGH}, "name"),
    ("/users", {"email": "s@example.com", "name": LOW}, "name"),
    ("/users", {"email": "s@example.com", "name": f"Ada {HIGH} Lovelace"}, "name"),
    ("/users", {"email": "s@example.com", "name": f"  Ada{LOW}\n"}, "name"),  # found once trimmed, too
    ("/users", {"email": "s@example.com", "name": "\ude00\ud83d"}, "name"),  # a pair's halves, swapped
    ("/users", {"email": f"s{HIGH}@example.com", "name": "Ada"}, "email"),
    ("/users", {"email": f"s@example.com{LOW}", "name": "Ada"}, "email"),
    ("/notifications", {"type": "email", "message": f"hi {HIGH}", "email_address": "to@example.com"}, "message"),
    ("/notifications", {"type": "email", "message": "hi", "email_address": f"to{LOW}@example.com"}, "email_address"),
    ("/notifications", {"type": "sms", "message": LOW, "phone_number": "+15551234"}, "message"),
    ("/notifications", {"type": "sms", "message": "hi", "phone_number": f"+1555{HIGH}1234"}, "phone_number"),
    ("/notifications", {"type": f"sms{HIGH}", "message": "hi", "phone_number": "+15551234"}, "type"),
    ("/products", {"name": f"widget{HIGH}", "stock": 1}, "name"),
    ("/products", {"name": LOW, "stock": 1}, "name"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), CREATES, ids=[f"{path} {field} {body[field]!a}" for path, body, field in CREATES]
)
async def test_a_lone_surrogate_in_a_created_field_is_422(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    # The tag of a tagged union is matched, not validated: pydantic names it, with U+FFFD for the surrogate.
    names = (field,) if field == "type" else (field, "lone surrogate")
    assert_problem(await client.post(path, content=escaped(body), headers=JSON), 422, *names)
    if path == "/products":  # no list route: the first id would be 1
        assert (await client.get("/products/1")).status_code == 404
    else:
        assert (await client.get(path)).json()["total"] == 0


async def test_a_lone_surrogate_in_a_user_patch_is_422(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"email": "p@example.com", "name": "Before"})
    assert created.status_code == 201, created.text
    url = f"/users/{created.json()['id']}"
    for body, field in (({"name": HIGH}, "name"), ({"name": f"a{LOW}b"}, "name"), ({"role": f"admin{HIGH}"}, "role")):
        assert_problem(await client.patch(url, content=escaped(body), headers=JSON), 422, field)
    after = (await client.get(url)).json()
    assert (after["name"], after["role"], after["updated_at"]) == ("Before", "member", created.json()["updated_at"])


async def test_a_lone_surrogate_in_a_product_patch_is_422(client: httpx.AsyncClient) -> None:
    created = await client.post("/products", json={"name": "widget", "stock": 3})
    assert created.status_code == 201, created.text
    url = f"/products/{created.json()['id']}"
    for name in (HIGH, LOW, f"new {HIGH} name"):
        response = await client.patch(url, content=escaped({"name": name}), headers={**JSON, "If-Match": '"1"'})
        assert_problem(response, 422, "name")
    after = (await client.get(url)).json()
    assert (after["name"], after["version_id"]) == ("widget", 1)


@pytest.mark.parametrize(("row", "field"), [(0, "name"), (2, "email"), (4, "name")])
async def test_a_bulk_request_with_one_bad_row_inserts_nothing(client: httpx.AsyncClient, row: int, field: str) -> None:
    rows: list[dict[str, str]] = [{"email": f"b{i}@example.com", "name": f"B{i}"} for i in range(5)]
    rows[row] = {**rows[row], field: rows[row][field] + HIGH}
    problem = assert_problem(await client.post("/users/bulk", content=escaped(rows), headers=JSON), 422, field)
    assert f"row {row}: {field}" in problem["detail"]
    assert problem["errors"][0]["loc"] == [row, field]
    assert (await client.get("/users")).json()["total"] == 0


async def test_a_lone_surrogate_in_a_key_is_a_problem_that_still_serializes(client: httpx.AsyncClient) -> None:
    for body in ({"email": "k@example.com", "name": "x", HIGH: 1}, {"email": "k@example.com", "name": "x", LOW: 1}):
        assert_problem(await client.post("/users", content=escaped(body), headers=JSON), 422)
    bulk = [{"email": "k@example.com", "name": "x"}, {"email": "l@example.com", "name": "y", f"n{HIGH}": 1}]
    problem = assert_problem(await client.post("/users/bulk", content=escaped(bulk), headers=JSON), 422, "row 1")
    # A key with no UTF-8 form cannot even be named: the row is.
    assert problem["errors"] == [
        {"loc": [1], "msg": "must not contain lone surrogates (unpaired \\uD800-\\uDFFF escapes)"}
    ]
    assert (await client.get("/users")).json()["total"] == 0


async def test_an_escaped_pair_is_an_ordinary_character(client: httpx.AsyncClient) -> None:
    """``"\\ud83d\\ude00"`` is one character, U+1F600: stored, returned and looked up as such."""
    body = escaped({"email": f"{EMOJI}@example.com", "name": f" Ada {EMOJI} "})
    assert b"\\ud83d\\ude00" in body
    created = await client.post("/users", content=body, headers=JSON)
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["email"], user["name"]) == (f"{EMOJI}@example.com", f"Ada {EMOJI}")
    assert (await client.get(f"/users/{user['id']}")).json() == user
    assert (await client.get("/users/lookup?email=%F0%9F%98%80@example.com")).json() == user
    patched = await client.patch(f"/users/{user['id']}", content=escaped({"name": EMOJI * 3}), headers=JSON)
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == EMOJI * 3
    sms = escaped({"type": "sms", "message": f"{EMOJI}!", "phone_number": "+15551234"})
    assert (await client.post("/notifications", content=sms, headers=JSON)).json()["message"] == f"{EMOJI}!"
    product = await client.post("/products", content=escaped({"name": EMOJI, "stock": 1}), headers=JSON)
    assert product.status_code == 201, product.text
    assert product.json()["name"] == EMOJI


# Percent-escapes of bytes that are not UTF-8: a surrogate's three bytes (CESU-8), a truncated 4-byte sequence, a
# stray continuation byte. Werkzeug, under both apps, leaves such bytes percent-encoded: the parameter is the plain
# ASCII text "%ED%A0%80", so a value that is only looked up is not found, and one that must parse is refused.
BAD_BYTES = ["%ED%A0%80", "%ED%BF%BF", "%F0%9F%98", "%FF", "1%ED%A0%80"]


@pytest.mark.parametrize("value", BAD_BYTES)
async def test_undecodable_query_bytes_are_a_400_where_the_value_must_parse(
    client: httpx.AsyncClient, value: str
) -> None:
    assert_problem(await client.get(f"/users?page={value}"), 400, "page")
    assert_problem(await client.get(f"/users?per_page={value}"), 400, "per_page")
    assert_problem(await client.get(f"/notifications?type={value}"), 400, "type")
    assert_problem(await client.get(f"/users/1/notifications?page={value}"), 400, "page")


@pytest.mark.parametrize("value", BAD_BYTES)
async def test_undecodable_query_bytes_in_an_email_are_just_not_found(client: httpx.AsyncClient, value: str) -> None:
    assert (await client.post("/users", json={"email": "q@example.com", "name": "Q"})).status_code == 201
    for query in (f"email={value}", f"email=q{value}@example.com", f"email=q@example.com{value}"):
        response = await client.get(f"/users/lookup?{query}")
        assert_problem(response, 404)
    # Unknown parameters are ignored, whatever their name.
    assert (await client.get(f"/users/lookup?email=q@example.com&{value}={value}")).status_code == 200


async def test_undecodable_bytes_in_a_path_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/users/%ED%A0%80", "/users/1%F0%9F%98", "/products/%FF", "/%ED%A0%80"):
        assert_problem(await client.get(path), 404)
