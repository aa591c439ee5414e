"""Real HTTP servers for the API tests: Hypercorn (in the test's event loop) and a threaded WSGI server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from cluster.processes import free_port
from service.config import Settings


@dataclass
class LiveServer:
    kind: str
    base_url: str
    app: Any


def checked_out(app: Any) -> int:
    """Connections the app's pool has handed out right now (either app; Flask's engine needs its app context)."""
    from flask import Flask

    ext = app.extensions["sqlalchemy"]
    if isinstance(app, Flask):
        with app.app_context():
            return int(ext.engine.pool.checkedout())
    return int(ext.engine.pool.checkedout())


@asynccontextmanager
async def serve_quart(settings: Settings, configure: Callable[[Any], None] | None = None) -> AsyncIterator[LiveServer]:
    """The async app under Hypercorn, in this event loop: tests can look at its pool directly."""
    from service.quart_app import create_app

    app = create_app(settings)
    if configure is not None:
        configure(app)
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 5
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    await _wait_listening(port, task)
    try:
        yield LiveServer("quart", f"http://127.0.0.1:{port}", app)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def serve_flask(settings: Settings, configure: Callable[[Any], None] | None = None) -> AsyncIterator[LiveServer]:
    """The sync twin under werkzeug's threaded server: one thread per request, so concurrency is real."""
    from werkzeug.serving import make_server

    from service.flask_app import create_app

    app = create_app(settings)
    if configure is not None:
        configure(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the loop to notice (0.5 s per test by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="flask-test-server", daemon=True)
    thread.start()
    try:
        yield LiveServer("flask", f"http://127.0.0.1:{server.port}", app)
    finally:
        await asyncio.to_thread(server.shutdown)
        thread.join(10)
        server.server_close()
        ext = app.extensions["sqlalchemy"]
        with app.app_context():
            ext.engine.dispose()


async def _wait_listening(port: int, task: asyncio.Task[Any]) -> None:
    for _ in range(200):
        if task.done():
            task.result()  # raises the server's start-up error
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise TimeoutError(f"server on port {port} did not start")
