"""Hypercorn's access log at a fraction of its cost: the same format keys, computed only when the format asks.

Hypercorn's ``AccessLogAtoms`` builds, for every request, a dict of every request and response header *and of every
environment variable* of the process, then the format reads five or six of them. On the point read that was 4 % of
the worker's CPU (py-spy; docs/loadtest/notes.md). :class:`AccessLogger` hands ``logging`` a mapping that computes
a key when ``%``-formatting reads it, so a line costs what its format uses. The lines are the same as Hypercorn's
(``tests/deploy/test_access_log.py`` compares them key by key).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from hypercorn.logging import Logger

Scope = Mapping[str, Any]


def _header(headers: Any, name: str) -> str:
    # The last one wins, as in Hypercorn's dict of all of them.
    wanted = name.encode("latin-1")
    found = "-"
    for key, value in headers or ():
        if key.lower() == wanted:
            found = value.decode("latin-1")
    return found


def _environ(name: str) -> str:
    found = "-"
    for key, value in os.environ.items():
        if key.lower() == name:
            found = value
    return found


class LazyAtoms(Mapping[str, Any]):
    """Hypercorn's access log atoms (``h``, ``t``, ``r``, ``{user-agent}i`` ...), each computed on first read."""

    __slots__ = ("_request", "_request_time", "_response")

    def __init__(self, request: Scope, response: Scope | None, request_time: float) -> None:
        self._request = request
        self._response = response
        self._request_time = request_time

    def __getitem__(self, key: str) -> Any:
        if key.startswith("{") and len(key) > 3:
            name, kind = key[1:-2].lower(), key[-1]
            if kind == "i":
                return _header(self._request.get("headers"), name)
            if kind == "o":
                return _header(self._response.get("headers") if self._response else None, name)
            if kind == "e":
                return _environ(name)
            return "-"
        atom = _ATOMS.get(key)
        # Raw values (``D`` is an int, as in Hypercorn's): a format may say ``%(D)d``.
        return "-" if atom is None else atom(self)

    def __iter__(self) -> Iterator[str]:
        return iter(_ATOMS)

    def __len__(self) -> int:
        # Non-zero: ``logging`` takes a lone, non-empty mapping argument as the format's mapping.
        return len(_ATOMS)

    # The atoms, as Hypercorn's AccessLogAtoms computes them.

    def _method(self) -> str:
        return str(self._request["method"]) if self._request["type"] == "http" else "GET"

    def _protocol(self) -> str:
        return str(self._request.get("http_version", "ws"))

    def _query(self) -> str:
        return str(self._request["query_string"].decode())

    def _path_with_qs(self) -> str:
        query = self._query()
        return str(self._request["path"]) + ("?" + query if query else "")

    def _remote(self) -> str | None:
        client = self._request.get("client")
        if client is None:
            return None
        if len(client) == 2:
            return f"{client[0]}:{client[1]}"
        if len(client) == 1:
            return str(client[0])
        return f"<???{client}???>"

    def _status(self) -> str:
        return "-" if self._response is None else str(self._response["status"])

    def _phrase(self) -> str:
        if self._response is None:
            return "-"
        try:
            return HTTPStatus(self._response["status"]).phrase
        except ValueError:
            return f"<???{self._status()}???>"


_ATOMS: dict[str, Callable[[LazyAtoms], object]] = {
    "h": LazyAtoms._remote,
    "l": lambda atoms: "-",
    "t": lambda atoms: time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
    "r": lambda atoms: f"{atoms._method()} {atoms._request['path']} {atoms._protocol()}",
    "R": lambda atoms: f"{atoms._method()} {atoms._path_with_qs()} {atoms._protocol()}",
    "s": LazyAtoms._status,
    "st": LazyAtoms._phrase,
    "S": lambda atoms: atoms._request["scheme"],
    "m": LazyAtoms._method,
    "U": lambda atoms: atoms._request["path"],
    "Uq": LazyAtoms._path_with_qs,
    "q": LazyAtoms._query,
    "H": LazyAtoms._protocol,
    "b": lambda atoms: atoms["{content-length}o"],
    "B": lambda atoms: atoms["{content-length}o"],
    "f": lambda atoms: atoms["{referer}i"],
    "a": lambda atoms: atoms["{user-agent}i"],
    "T": lambda atoms: int(atoms._request_time),
    "D": lambda atoms: int(atoms._request_time * 1_000_000),
    "L": lambda atoms: f"{atoms._request_time:.6f}",
    "p": lambda atoms: f"<{os.getpid()}>",
}


class AccessLogger(Logger):
    """Hypercorn's ``Logger`` with :class:`LazyAtoms` (``Config.logger_class``; see :mod:`service.quart_app.serve`)."""

    def atoms(self, request: Any, response: Any, request_time: float) -> Mapping[str, Any]:
        return LazyAtoms(request, response, request_time)
