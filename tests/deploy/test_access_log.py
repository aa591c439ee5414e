"""The service's access logger writes Hypercorn's lines (same keys, same values), and the deployed command uses it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypercorn.logging import AccessLogAtoms

from service.quart_app.access_log import LazyAtoms
from tests.support.processes import LeakGuard, secrets_of, serving

KEYS = ["h", "l", "r", "R", "s", "st", "S", "m", "U", "Uq", "q", "H", "b", "B", "f", "a", "T", "D", "L", "p"]
HEADERS = ["{user-agent}i", "{User-Agent}i", "{x-dup}i", "{missing}i", "{content-length}o", "{content-type}o"]

REQUEST: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/users",
    "query_string": b"email=a%40b.example&x=1",
    "http_version": "1.1",
    "client": ("127.0.0.1", 51234),
    "scheme": "http",
    "headers": [(b"User-Agent", b"curl/8"), (b"x-dup", b"first"), (b"X-Dup", b"second"), (b"referer", b"r")],
}
RESPONSE: dict[str, Any] = {"status": 201, "headers": [(b"content-length", b"42"), (b"content-type", b"x/y")]}


@pytest.mark.parametrize(
    ("request_scope", "response"),
    [
        (REQUEST, RESPONSE),
        (REQUEST, None),  # no response: the client went away
        ({**REQUEST, "client": None, "query_string": b""}, {"status": 599, "headers": []}),  # unknown status
        ({**REQUEST, "type": "websocket", "client": ("unix-socket",)}, RESPONSE),
    ],
)
def test_every_atom_matches_hypercorns(request_scope: dict[str, Any], response: dict[str, Any] | None) -> None:
    theirs = AccessLogAtoms(request_scope, response, 0.0123456)  # type: ignore[arg-type]
    ours = LazyAtoms(request_scope, response, 0.0123456)

    for key in [*KEYS, *HEADERS, "{home}e", "{HOME}e", "{not-set-anywhere}e", "nonsense"]:
        assert ours[key] == theirs[key], key


def test_a_whole_line_matches_and_numeric_formats_work() -> None:
    line = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s" %(D)d %(T)d'
    assert line % LazyAtoms(REQUEST, RESPONSE, 0.5) == line % AccessLogAtoms(REQUEST, RESPONSE, 0.5)  # type: ignore[arg-type]


@pytest.mark.slow
async def test_the_deployed_command_logs_each_request_without_its_query_string(
    database_url: str, tmp_path: Path
) -> None:
    guard = LeakGuard(secrets=secrets_of(database_url))
    with serving("quart", {"DATABASE_URL": database_url}, tmp_path, guard) as server:
        async with guard.client(server.base_url) as client:
            assert (await client.get("/users/lookup", params={"email": "who@example.org"})).status_code in (200, 404)
    log = server.log()
    # hypercorn.toml's format: %(h)s %(t)s "%(r)s" %(s)s %(b)s %(D)sus "%(a)s"
    assert re.search(r'127\.0\.0\.1:\d+ \[[^\]]+\] "GET /users/lookup 1\.1" (200|404) \d+ \d+us "python-httpx/', log)
    assert "who@example.org" not in log


def test_the_entry_point_gives_hypercorn_the_access_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    from hypercorn.config import Config

    from service.quart_app import serve
    from service.quart_app.access_log import AccessLogger

    monkeypatch.setattr(Config, "logger_class", Config.logger_class)  # restored after the test
    with pytest.raises(SystemExit) as exit_info:
        serve.main(["--help"])  # argparse exits here, after the class was set and before anything is served
    assert exit_info.value.code == 0
    assert Config().logger_class is AccessLogger
    assert isinstance(Config().log, AccessLogger)
