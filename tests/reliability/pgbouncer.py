"""Debian's pgbouncer on a loopback port, configured from ``deploy/pgbouncer/pgbouncer.ini`` and started by
``deploy/pgbouncer/entrypoint.sh``, as the compose file runs it (the code lives in :mod:`cluster.pgbouncer`, which
``make cluster`` runs too).

Only the addresses change: the listening port, the target (the test's PostgreSQL, any database name), the auth
file's place, and — so that a handful of clients already share server connections — a small pool. PgBouncer
refuses to run as root: as root, it runs as ``nobody``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cluster import pgbouncer as _pgbouncer
from cluster.pgbouncer import DEPLOY_INI, ENTRYPOINT, PgBouncer, deploy_settings, pgbouncer_binary
from tests.support.ci import missing

__all__ = ["DEPLOY_INI", "ENTRYPOINT", "PgBouncer", "deploy_settings", "pgbouncer_binary", "running_pgbouncer"]


@contextlib.contextmanager
def running_pgbouncer(
    target_host: str, target_port: int, user: str, password: str, *, pool_size: int
) -> Iterator[PgBouncer]:
    """:func:`cluster.pgbouncer.running_pgbouncer`, skipped (failed in CI) when pgbouncer is not installed."""
    if pgbouncer_binary() is None:
        missing("pgbouncer is not installed (make system-deps installs it)")
    with _pgbouncer.running_pgbouncer(target_host, target_port, user, password, pool_size=pool_size) as bouncer:
        yield bouncer
