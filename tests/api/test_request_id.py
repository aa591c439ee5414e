"""``X-Request-ID`` (API v1.1) on both apps: echoed when usable, replaced when not, generated when absent, and on
every answer, errors included."""

from __future__ import annotations

import re

import httpx
import pytest

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


async def test_an_answer_without_an_id_gets_a_new_one_each_time(client: httpx.AsyncClient) -> None:
    first, second = (
        (await client.get("/health")).headers["X-Request-ID"],
        (await client.get("/health")).headers["X-Request-ID"],
    )
    assert HEX_ID.match(first)
    assert HEX_ID.match(second)
    assert first != second


@pytest.mark.parametrize("sent", ["abc-123", "a" * 128, "!~\"#$%&'()*+,./:;<=>?@[\\]^_`{|}", "Root=1-5f1;Parent=2"])
async def test_a_usable_id_is_echoed_exactly(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": sent})
    assert response.headers.get_list("X-Request-ID") == [sent]


@pytest.mark.parametrize("sent", [b"a" * 129, b"two words", b"tab\there", b"caf\xe9", b"\x7f"])
async def test_an_unusable_id_is_replaced(client: httpx.AsyncClient, sent: bytes) -> None:
    response = await client.get("/health", headers={b"X-Request-ID": sent})
    assert HEX_ID.match(response.headers["X-Request-ID"]), response.headers["X-Request-ID"]


async def test_error_answers_carry_the_id_too(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/users/999999999", headers={"X-Request-ID": "r-404"})
    invalid = await client.post("/users", json={"email": "not an email"}, headers={"X-Request-ID": "r-422"})
    too_large = await client.post(
        "/users",
        content=b"x" * (2 * 1024 * 1024 + 1),
        headers={"X-Request-ID": "r-413", "Content-Type": "application/json"},
    )
    assert (not_found.status_code, not_found.headers["X-Request-ID"]) == (404, "r-404")
    assert invalid.status_code in (400, 422)
    assert invalid.headers["X-Request-ID"] == "r-422"
    assert (too_large.status_code, too_large.headers["X-Request-ID"]) == (413, "r-413")
