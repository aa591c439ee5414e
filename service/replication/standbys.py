"""What one process knows of the primary's and the standbys' WAL positions, and the choice of a standby per read.

Pure bookkeeping: the router (``_async.router`` / ``_sync.router``) samples the positions and reports them here;
the request path asks :meth:`Standbys.choose`. No lock: every update is a few attribute stores, and a read that
sees a half-updated standby sees an older, smaller replay position — it may fall back to the primary once more,
never read a standby that has not replayed its token.

A standby's **lag** is how long it has been missing something the primary had: the age of the oldest primary
position (from the sampled history) that it has not replayed yet, 0 when it has replayed all the primary had at the
last sample. Unlike ``now() - pg_last_xact_replay_timestamp()`` it does not grow while the primary is idle.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

HISTORY = 4096
"""Primary positions kept for the lag (one per sample: at 4 samples a second, over a quarter of an hour)."""

# Reasons a read goes to the primary although standbys are configured (the metrics' ``reason`` label).
BEHIND_TOKEN = "behind_token"
LAGGING = "lagging"
DOWN = "down"
ERROR = "error"


@dataclass(slots=True)
class Standby:
    name: str
    """Where it is (host:port/database), never a password: a metrics label and a log field."""
    up: bool = False
    """Answered the last sample as a standby; a standby is unused until its first sample."""
    replay_lsn: int = 0
    lag: float = math.inf


class Standbys:
    """The standbys of one app, the primary's sampled positions, and the round robin over the usable ones."""

    def __init__(self, names: list[str], max_lag: float) -> None:
        self.standbys = [Standby(name) for name in names]
        self.max_lag = max_lag
        self.primary_lsn = 0
        """The highest primary position known: sampled, read after a commit, or checked for a client's token."""
        self._history: deque[tuple[float, int]] = deque(maxlen=HISTORY)
        self._next = 0

    def observe_primary(self, lsn: int, now: float) -> None:
        """A position the primary had reached at ``now`` (monotonic seconds)."""
        if lsn > self.primary_lsn:
            self.primary_lsn = lsn
            self._history.append((now, lsn))

    def knows(self, lsn: int) -> bool:
        """Whether the primary is known to have reached ``lsn`` (else the caller asks it, or the token is bad)."""
        return lsn <= self.primary_lsn

    def observe_standby(self, index: int, replay_lsn: int | None, now: float) -> None:
        """A sample of standby ``index``: its replay position, ``None`` when it is not (or no longer) a standby."""
        standby = self.standbys[index]
        if replay_lsn is None:
            self.mark_down(index)
            return
        standby.replay_lsn = max(standby.replay_lsn, replay_lsn)
        standby.lag = self._lag(standby.replay_lsn, now)
        standby.up = True

    def mark_down(self, index: int) -> None:
        """Standby ``index`` failed (a sample, or a read): unused until a sample finds it answering again."""
        standby = self.standbys[index]
        standby.up = False
        standby.lag = math.inf

    def _lag(self, replay_lsn: int, now: float) -> float:
        for at, lsn in self._history:
            if lsn > replay_lsn:
                return max(0.0, now - at)
        return 0.0

    def choose(self, token_lsn: int | None) -> tuple[int | None, str | None]:
        """The standby for one read (round robin over the usable ones) and ``None``; or ``None`` and the reason the
        read goes to the primary. A standby is usable when up, at most ``max_lag`` behind, and, for a read with a
        token, replayed at least to it."""
        standbys = self.standbys
        count = len(standbys)
        reason = DOWN
        for step in range(count):
            index = (self._next + step) % count
            standby = standbys[index]
            if not standby.up:
                continue
            if standby.lag > self.max_lag:
                reason = LAGGING if reason == DOWN else reason
                continue
            if token_lsn is not None and standby.replay_lsn < token_lsn:
                reason = BEHIND_TOKEN
                continue
            self._next = index + 1
            return index, None
        return None, reason
