"""The shape of a unit of work for each stack (the generator maps ``AsyncWork`` to ``SyncWork``).

Its one argument says whether this attempt must read its rows ``FOR UPDATE`` (see ``RetryPolicy.lock_rows``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

AsyncWork = Callable[[bool], Awaitable[T]]
SyncWork = Callable[[bool], T]
