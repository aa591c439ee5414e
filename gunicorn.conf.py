"""Gunicorn settings for the sync twin, read from the environment.

    gunicorn -c gunicorn.conf.py 'service.flask_app:create_app()'

Each worker calls the factory itself (no ``preload_app``), so every process builds its own engine and pool after
the fork and never shares a connection with another. Size ``GUNICORN_THREADS`` at most ``DB_POOL_SIZE +
DB_MAX_OVERFLOW`` (30 by default): a thread beyond that waits for a connection and times out as a 503.

The service's own settings (DATABASE_URL, DB_*, ...) are validated once in the master before any worker starts:
a bad one stops Gunicorn with one line naming the variable (exit 1), instead of a traceback per worker.

| variable | default | |
|---|---|---|
| GUNICORN_BIND | 127.0.0.1:8001 | address to listen on (the image: 0.0.0.0:8001) |
| GUNICORN_WORKERS | 2 | processes; set PROMETHEUS_MULTIPROC_DIR when more than 1 (README) |
| GUNICORN_THREADS | 8 | threads per process (gthread) |
| GUNICORN_TIMEOUT | 30 | seconds a request may run before its worker is killed |
| GUNICORN_GRACEFUL_TIMEOUT | 30 | seconds in-flight requests get after SIGTERM |
| GUNICORN_KEEPALIVE | 5 | seconds an idle keep-alive connection stays open |

``DRAIN_SECONDS`` (a service setting, default 0) drains before a stop: on SIGTERM ``/ready`` answers 503 that long
while every other request is served, then the graceful stop above begins.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        # SystemExit, not an exception: Gunicorn would print a traceback of this file for one.
        sys.exit(f"configuration error: {name}: cannot parse {raw!r} as an integer")


wsgi_app = "service.flask_app:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8001"]
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 8)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
# A request stuck longer than this is killed with its worker; the optimistic-lock retries take milliseconds.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, in-flight requests get this long to finish before the workers are killed. A request killed with its
# worker commits nothing: its transaction is rolled back by PostgreSQL when the connection goes.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Gunicorn answers a longer request line itself, with an HTML 414; 8190 is its maximum (Hypercorn, serving the
# async app, accepts request heads up to 16 KiB).
limit_request_line = 8190
accesslog = "-"
errorlog = "-"
# The URL path only (%(U)s), never the query string: /users/lookup?email=... must not write e-mail addresses into
# the logs. The same fields as hypercorn.toml's format; %(D)s: microseconds; last, the request's X-Request-ID (the
# app's answer carries it, service.api.request_id).
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(D)sus "%(a)s" %({x-request-id}o)s'
# Recent Gunicorn (27 here) opens a management socket at one per-user default path, which two servers on a host
# would share. Off unless a path is given (older Gunicorn ignores both names).
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip() or None
control_socket_disable = control_socket is None


def on_starting(server: object) -> None:
    """Validate the service's settings in the master, before the workers: a bad variable is one line, exit 1.

    Gunicorn prints a ``RuntimeError`` raised here as ``Error: <message>`` and exits 1.
    """
    from service import draining
    from service.config import ConfigError, load_settings
    from service.observability.logs import configure_service_logging

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise RuntimeError(f"configuration error: {exc}") from None
    configure_service_logging()  # the workers, forked from here, inherit it
    draining.install()  # shared memory, before the workers fork
    if settings.drain_seconds > 0:
        _drain_before_stopping(server, settings.drain_seconds)


def _drain_before_stopping(arbiter: Any, seconds: float) -> None:
    """On SIGTERM, let the workers answer /ready with 503 for ``seconds`` (still serving everything else), then
    stop as Gunicorn does (service.draining). The arbiter looks its signal handlers up by name on itself."""
    from service import draining

    stop = arbiter.handle_term

    def handle_term() -> None:
        if not draining.active():
            draining.start()
            arbiter.log.info("draining for %.1f s before stopping", seconds)
            time.sleep(seconds)  # the arbiter's loop waits; the workers serve on
        stop()

    arbiter.handle_term = handle_term


def pre_request(worker: object, req: object) -> None:
    """Let the app close this request's connection after answering without reading its body.

    Gunicorn ignores a ``Connection`` header set by the app; see service/flask_app/unread_body.py.
    """
    from service.flask_app.unread_body import remember_server_request

    remember_server_request(req)


def child_exit(server: object, worker: object) -> None:
    """In Prometheus multiprocess mode, stop counting a dead worker's live gauges (checked-out connections)."""
    from service.observability.metrics import mark_process_dead

    mark_process_dead(worker.pid)  # type: ignore[attr-defined]
