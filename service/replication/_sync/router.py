# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""The I/O of read routing for one app: positions sampled from the primary and the standbys, the commit token, and
the check of a client's token. Async source of the generated sync twin (the Flask app's, run in a thread)."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Sequence
from time import monotonic

from sqlalchemy import Engine, text

from service.replication.routes import RouteMetrics
from service.replication.standbys import Standbys
from service.replication.tokens import BadConsistencyToken, format_token, parse_lsn, parse_token

POLL_INTERVAL = 0.25
"""Seconds between two samples: a read with a fresh token waits for no sample, it goes to the primary meanwhile."""

# The insert position, not pg_current_wal_lsn() (the write position): with synchronous_commit off, a commit returns
# before its record is written, and the write position may not include it yet. A standby that replayed past the
# insert position read after the commit has replayed the commit.
_PRIMARY_LSN = text("SELECT pg_current_wal_insert_lsn()::text")
_STANDBY_LSN = text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")

log = logging.getLogger(__name__)


class ReadRouter:
    """One app's standbys: their engines, what is known of their positions, and the sampling loop.

    ``primary`` is the engine that reads the primary's position (the app's read-only view of it: in autocommit,
    one round trip). ``standbys`` are the standbys' engines, sampled by :meth:`monitor`; ``binds`` the (sync)
    engines that read-only sessions are bound to, index for index. With no standby, tokens are still issued and
    checked, and every read is the primary's.
    """

    def __init__(
        self,
        primary: Engine,
        standbys: Sequence[Engine],
        binds: Sequence[Engine],
        names: list[str],
        max_lag: float,
        metrics: RouteMetrics | None = None,
    ) -> None:
        self.primary = primary
        self.standbys = list(standbys)
        self.binds = list(binds)
        self.state = Standbys(names, max_lag)
        self.metrics = metrics
        self._problems: dict[str, str] = {}
        """What is wrong with the primary or a standby (by name), as last logged: each change is logged once."""

    def commit_token(self) -> str:
        """The token of every write committed so far by this process: the primary's position now."""
        return format_token(self._primary_lsn())

    def check_token(self, raw: str | None) -> int | None:
        """The position a read's token names (``None``: no token); 400 if malformed or ahead of the primary."""
        lsn = parse_token(raw)
        if lsn is not None and not self.state.knows(lsn):
            self._primary_lsn()  # written since the last sample, or by another process: ask the primary
            if not self.state.knows(lsn):
                raise BadConsistencyToken("X-Consistency-Token names a point the primary has not reached")
        return lsn

    def _primary_lsn(self) -> int:
        with self.primary.connect() as conn:
            lsn = parse_lsn(str(conn.scalar(_PRIMARY_LSN)))
        self.state.observe_primary(lsn, monotonic())
        return lsn

    def sample(self) -> None:
        """Read the primary's position, then each standby's; a standby that fails to answer is marked down."""
        try:
            self._primary_lsn()
        except Exception as exc:  # the requests report the primary's failures; the lag just stops growing
            self._report("the primary", f"does not answer ({type(exc).__name__})")
        else:
            self._report("the primary", None)
        for index, engine in enumerate(self.standbys):
            name = f"standby {self.state.standbys[index].name}"
            try:
                with engine.connect() as conn:
                    in_recovery, replay = (conn.execute(_STANDBY_LSN)).one()
            except Exception as exc:
                self._report(name, f"is down ({type(exc).__name__})")
                self.state.mark_down(index)
            else:
                self._report(name, None if in_recovery else "is not in recovery: not read")
                self.state.observe_standby(index, parse_lsn(replay) if in_recovery and replay else None, monotonic())
        if self.metrics is not None:
            self.metrics.observe_standbys(self.state)

    def _report(self, what: str, problem: str | None) -> None:
        """Log a problem when it starts or changes, and its end, not at every sample."""
        if self._problems.get(what) == problem:
            return
        if problem is not None:
            log.warning("standby monitor: %s %s", what, problem)
        elif what in self._problems:
            log.warning("standby monitor: %s answers again", what)
        if problem is None:
            self._problems.pop(what, None)
        else:
            self._problems[what] = problem


def monitor(ref: weakref.ref[ReadRouter]) -> None:
    """Sample every :data:`POLL_INTERVAL` while the router lives (held weakly: a thread running this ends with its
    app; a task is cancelled)."""
    while (router := ref()) is not None:
        router.sample()
        del router
        time.sleep(POLL_INTERVAL)
