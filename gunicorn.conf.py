"""Gunicorn settings for the sync twin, read from the environment.

    gunicorn -c gunicorn.conf.py 'service.flask_app:create_app()'

Each worker calls the factory itself (no ``preload_app``), so every process builds its own engine and pool after
the fork and never shares a connection with another. Size ``GUNICORN_THREADS`` at most ``DB_POOL_SIZE +
DB_MAX_OVERFLOW`` (30 by default): a thread beyond that waits for a connection and times out as a 503.
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


wsgi_app = "service.flask_app:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "").strip() or "127.0.0.1:8001"]
workers = _int("GUNICORN_WORKERS", 2)
threads = _int("GUNICORN_THREADS", 8)
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
# A request stuck longer than this is killed with its worker; the optimistic-lock retries take milliseconds.
timeout = _int("GUNICORN_TIMEOUT", 30)
# On SIGTERM, in-flight requests get this long to finish before the workers are killed.
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
accesslog = "-"
errorlog = "-"
# Recent Gunicorn (27 here) opens a management socket at one per-user default path, which two servers on a host
# would share. Off unless a path is given (older Gunicorn ignores both names).
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip() or None
control_socket_disable = control_socket is None


def child_exit(server: object, worker: object) -> None:
    """In Prometheus multiprocess mode, stop counting a dead worker's live gauges (checked-out connections)."""
    from service.observability.metrics import mark_process_dead

    mark_process_dead(worker.pid)  # type: ignore[attr-defined]
