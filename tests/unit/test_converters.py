"""The ``<id:...>`` converter: its regex alone decides what an id is, so every method of a path agrees."""

from __future__ import annotations

import re

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, MapAdapter, Rule

from service.api.appconfig import configure_url_map
from service.api.converters import IdConverter, at_most
from service.api.routes import ROUTES
from service.schemas import INT64_MAX


@pytest.mark.parametrize("bound", [1, 2, 9, 10, 11, 19, 20, 99, 100, 101, 305, 999, 1000, 4096])
def test_at_most_matches_exactly_one_to_the_bound(bound: int) -> None:
    regex = re.compile(at_most(bound))
    assert [n for n in range(3 * bound + 50) if bool(regex.fullmatch(str(n))) != (1 <= n <= bound)] == []


@pytest.mark.parametrize(
    ("text", "is_id"),
    [
        (str(INT64_MAX), True),
        (str(INT64_MAX + 1), False),
        (str(INT64_MAX - 1), True),
        ("9223372036854775799", True),
        ("9223372036854775810", False),
        ("9300000000000000000", False),
        ("10000000000000000000", False),
        ("1000000000000000000", True),
        ("0" * 5 + str(INT64_MAX), True),
        ("1", True),
        ("0", False),
        ("000", False),
        ("-1", False),
        ("+1", False),
        ("1.0", False),
        ("", False),
    ],
)
def test_the_regex_is_the_bigint_range(text: str, is_id: bool) -> None:
    assert bool(re.fullmatch(IdConverter.regex, text)) is is_id


def _adapter() -> MapAdapter:
    url_map = Map()
    configure_url_map(url_map)
    for route in ROUTES:
        url_map.add(Rule(route.rule, endpoint=route.handler, methods=[route.method]))
    return url_map.bind("localhost")


@pytest.mark.parametrize("value", [str(INT64_MAX + 1), "99999999999999999999", "0", "abc"])
def test_no_id_is_not_found_for_every_method_of_the_path(value: str) -> None:
    """Werkzeug notes the methods of a path's other rules before it converts: a refusal in ``to_python`` was a 405."""
    adapter = _adapter()
    with_ids = [route for route in ROUTES if "<id:" in route.rule]
    assert with_ids, "no route takes an <id:...>"  # else the loop checks nothing
    for route in with_ids:
        path = re.sub(r"<id:[a-z_]+>", value, route.rule)
        with pytest.raises(NotFound):  # MethodNotAllowed (405) is no NotFound
            adapter.match(path, method=route.method)


def test_ids_convert_to_ints() -> None:
    adapter = _adapter()
    endpoint, values = adapter.match(f"/users/000{INT64_MAX}", method="PATCH")
    assert (endpoint, values) == ("update_user", {"user_id": INT64_MAX})
