"""Draining before a stop: on SIGTERM a server answers ``/ready`` with 503 for ``DRAIN_SECONDS`` while it keeps
serving everything that still arrives, then stops as before (``graceful_timeout`` for what is in flight).

A load balancer polling ``/ready`` takes the server out of rotation during that window, so a rolling restart
loses no request: without it the listener closes at the signal and requests the balancer is still sending are
refused. The serving entry points own the signal (``service.quart_app.serve``, ``gunicorn.conf.py``) and call
:func:`install` before serving; the ``ready`` handler reads :func:`active`. The flag lives in shared memory made
before Gunicorn forks its workers, so the master's signal handler and every worker see the same flag.
"""

from __future__ import annotations

import ctypes
import multiprocessing
from typing import Any

_flag: Any = None  # a shared c_bool once installed; None in an app that nobody serves this way


def install() -> None:
    """Create the flag (once per serving process tree, before any worker forks)."""
    global _flag
    if _flag is None:
        _flag = multiprocessing.RawValue(ctypes.c_bool, False)


def start() -> None:
    """From now on ``/ready`` answers 503."""
    if _flag is not None:
        _flag.value = True


def active() -> bool:
    """Whether this server is draining."""
    return _flag is not None and bool(_flag.value)
