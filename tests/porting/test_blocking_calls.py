"""Trap: blocking calls inside async views (docs/porting.md, trap 5).

A WSGI server gives each request a thread, so ``time.sleep``, ``requests.get``, a psycopg query or ``open()`` in a
Flask view blocks that request only. An async view that makes the same call blocks the event loop: every other
request of the worker waits — even the one the blocked view is waiting for. Three tests here:

* the trap, through a real Hypercorn server, with no timing assertion: a view waits for a second request to set a
  gate; blocking, the second request cannot be served until the wait gives up; offloaded with
  ``asyncio.to_thread``, it is served at once and releases the first;
* the way to find such calls in a ported app: asyncio's debug mode logs every loop step slower than
  ``slow_callback_duration``;
* the guard on this project: every module of the async request path is scanned for calls that block (the sync
  stack's engine and sessions, ``time.sleep``, ``open()``, HTTP clients, subprocesses...), and the scanner itself
  is shown to catch each kind.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart, jsonify

from service.config import Settings
from tests.support.servers import LiveServer, serve_quart

ROOT = Path(__file__).resolve().parents[2]

# -- the trap, on a real server ---------------------------------------------------------------------------------


@dataclass
class Gate:
    """A gate a view waits on and another request opens; ``started`` tells the test the view is waiting."""

    opened: threading.Event = field(default_factory=threading.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)


def _routes(gate: Gate) -> Callable[[Quart], None]:
    def configure(app: Quart) -> None:
        @app.post("/_t/wait/blocking")
        async def wait_blocking() -> Any:
            gate.started.set()
            # What a sync library call does (a lock, a socket read, time.sleep): the loop runs nothing else.
            return jsonify(opened=gate.opened.wait(timeout=0.5))

        @app.post("/_t/wait/offloaded")
        async def wait_offloaded() -> Any:
            gate.started.set()
            # The same call in a worker thread: the loop serves other requests meanwhile.
            return jsonify(opened=await asyncio.to_thread(gate.opened.wait, 30))

        @app.post("/_t/open")
        async def open_gate() -> Any:
            gate.opened.set()
            return jsonify(opened=True)

    return configure


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def server(settings: Settings, gate: Gate) -> AsyncIterator[LiveServer]:
    async with serve_quart(settings, configure=_routes(gate)) as live:
        yield live


async def _wait_then_open(server: LiveServer, gate: Gate, path: str) -> bool:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        waiting = asyncio.create_task(client.post(path))
        await gate.started.wait()  # the view is in its wait (or, blocking, has already given up)
        assert (await client.post("/_t/open")).status_code == 200
        response = await waiting
        assert response.status_code == 200
        return bool(response.json()["opened"])


async def test_a_blocking_call_stops_every_other_request(server: LiveServer, gate: Gate) -> None:
    assert await _wait_then_open(server, gate, "/_t/wait/blocking") is False  # /_t/open was served too late


async def test_the_same_call_offloaded_to_a_thread_lets_the_loop_serve(server: LiveServer, gate: Gate) -> None:
    assert await _wait_then_open(server, gate, "/_t/wait/offloaded") is True


# -- finding blocking calls in a ported app: asyncio's debug mode -------------------------------------------------


@pytest.fixture
async def loop_debug() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """Debug mode on the running loop, with a 0.1 s slow-step threshold (``PYTHONASYNCIODEBUG=1`` does the same)."""
    loop = asyncio.get_running_loop()
    debug, threshold = loop.get_debug(), loop.slow_callback_duration
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    try:
        yield loop
    finally:
        loop.set_debug(debug)
        loop.slow_callback_duration = threshold


async def test_debug_mode_reports_the_step_that_blocked(
    server: LiveServer, loop_debug: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            response = await client.post("/_t/wait/blocking")  # nothing opens the gate: it waits its 0.5 s
    assert response.json() == {"opened": False}
    took = [re.search(r"took (\d+\.\d+) seconds", record.getMessage()) for record in caplog.records]
    # The loop step that ran the view is reported with its duration (the wait alone is 0.5 s; threshold 0.1 s).
    assert any(match and float(match.group(1)) >= 0.5 for match in took), [r.getMessage() for r in caplog.records]


# -- the guard on this project: no blocking call in the async request path ---------------------------------------

# Every package a request of the async service runs through (the extension, the adapter, the handlers, use cases and
# repositories). Their generated _sync twins are the Flask app's, where blocking is the rule.
ASYNC_REQUEST_PATH = (
    "service/quart_sqlalchemy",
    "service/quart_app",
    "service/api/_async",
    "service/usecases/_async",
    "service/repositories/_async",
)

# Calls that block the loop, by the dotted name they resolve to; a name ending in "." covers a whole module.
BLOCKING_CALLS = {
    "time.sleep": "await asyncio.sleep(...)",
    "open": "await asyncio.to_thread(...) around the file work, or read it at start-up",
    "input": "no console input in a server",
    "requests.": "httpx.AsyncClient",
    "urllib.request.": "httpx.AsyncClient",
    "http.client.": "httpx.AsyncClient",
    "httpx.get": "httpx.AsyncClient",
    "httpx.post": "httpx.AsyncClient",
    "httpx.put": "httpx.AsyncClient",
    "httpx.patch": "httpx.AsyncClient",
    "httpx.delete": "httpx.AsyncClient",
    "httpx.request": "httpx.AsyncClient",
    "httpx.Client": "httpx.AsyncClient",
    "smtplib.": "an async mail client, or a background job",
    "subprocess.": "asyncio.create_subprocess_exec",
    "os.system": "asyncio.create_subprocess_shell",
    "os.popen": "asyncio.create_subprocess_shell",
    "socket.": "asyncio.open_connection / loop.getaddrinfo",
    "sqlalchemy.create_engine": "create_async_engine (the extension builds it)",
    "sqlalchemy.engine.create_engine": "create_async_engine (the extension builds it)",
    "sqlalchemy.orm.Session": "db.session (an AsyncSession)",
    "sqlalchemy.orm.sessionmaker": "async_sessionmaker",
    "sqlalchemy.orm.scoped_session": "db.session",
    "psycopg.": "asyncpg through SQLAlchemy asyncio",
    "psycopg2.": "asyncpg through SQLAlchemy asyncio",
    "sqlite3.": "aiosqlite through SQLAlchemy asyncio",
}
# Methods whose receiver the scan cannot type, blocking whatever it is in practice (pathlib's file I/O).
BLOCKING_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes"}
# Importing these at all in the async path means sync I/O is on its way into a handler.
BLOCKING_IMPORTS = (
    "requests",
    "psycopg",
    "psycopg2",
    "sqlite3",
    "flask",
    "flask_sqlalchemy",
    "service.repositories._sync",
    "service.usecases._sync",
    "service.api._sync",
    "service.flask_app",
)
BUILTINS = {"open", "input"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _resolve_relative(module: str, level: int, target: str | None, is_package: bool) -> str:
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _is_blocked_module(name: str) -> bool:
    return any(name == blocked or name.startswith(blocked + ".") for blocked in BLOCKING_IMPORTS)


def blocking_calls(source: str, module: str = "app.views", is_package: bool = False) -> list[str]:
    """``line: what`` for every blocking call or import in ``source`` (names resolved through its imports)."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found: list[str] = []
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                # "import a.b" binds "a" (and a.b.f() spells the full name); "import a.b as x" binds x to a.b.
                top = alias.name.split(".")[0]
                aliases[alias.asname or top] = alias.name if alias.asname else top
                if _is_blocked_module(alias.name):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, node.level, node.module, is_package) if node.level else (node.module or "")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if _is_blocked_module(base) or _is_blocked_module(full):
                    found.append(f"{node.lineno}: from {base} import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in BLOCKING_METHODS:
            found.append(f"{node.lineno}: .{node.func.attr}() blocks the loop; use await asyncio.to_thread(...)")
        dotted = _dotted(node.func)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        if head in aliases:
            name = f"{aliases[head]}.{rest}" if rest else aliases[head]
        elif head in BUILTINS and not rest and head not in defined:
            name = head
        else:
            name = None
        if name is not None:
            for blocked, instead in BLOCKING_CALLS.items():
                if name == blocked or (blocked.endswith(".") and name.startswith(blocked)):
                    found.append(f"{node.lineno}: {name}() blocks the loop; use {instead}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import time\nasync def view():\n    time.sleep(1)\n",
        "from time import sleep as nap\nasync def view():\n    nap(1)\n",
        "async def view():\n    with open('report.csv') as f:\n        return f.read()\n",
        "import requests\nasync def view():\n    return requests.get('http://x').json()\n",
        "import urllib.request\nasync def view():\n    urllib.request.urlopen('http://x')\n",
        "import httpx\nasync def view():\n    return httpx.get('http://x')\n",
        "import subprocess\nasync def view():\n    subprocess.run(['ls'])\n",
        "from sqlalchemy import create_engine\nengine = create_engine('postgresql://')\n",
        "from sqlalchemy.orm import Session\nasync def view(engine):\n    with Session(engine) as s:\n        pass\n",
        "from flask_sqlalchemy import SQLAlchemy\n",
        "from service.repositories._sync.users import UserRepository\n",
        "from pathlib import Path\nasync def view():\n    return Path('x').read_text()\n",
    ],
)
def test_the_scan_finds_each_kind_of_blocking_call(source: str) -> None:
    assert blocking_calls(source)


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio\nasync def view():\n    await asyncio.sleep(1)\n",
        "import asyncio, time\nasync def view():\n    await asyncio.to_thread(time.sleep, 1)\n",
        # A module of the service that happens to be called "requests" is not the HTTP library.
        "from service.observability import requests\nasync def view():\n    requests.begin()\n",
        # Subclassing the sync Session (SQLAlchemy asyncio's sync_session_class) is not opening one.
        "from sqlalchemy.orm import Session\nclass ServiceSession(Session):\n    pass\n",
        "class Extension:\n    def open(self):\n        pass\nasync def view(db):\n    db.open()\n",
    ],
)
def test_the_scan_passes_non_blocking_code(source: str) -> None:
    assert blocking_calls(source) == []


@pytest.mark.parametrize("package", ASYNC_REQUEST_PATH)
def test_no_blocking_call_in_the_async_request_path(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no module: the scan would check nothing"
    found = {
        str(path.relative_to(ROOT)): calls
        for path in files
        if (calls := blocking_calls(path.read_text(), _module_name(path), path.name == "__init__.py"))
    }
    assert found == {}
