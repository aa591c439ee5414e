"""Keep CPython's full garbage collections off the request path.

A worker's heap after start-up is a few hundred thousand long-lived objects (SQLAlchemy's mappers and compiled
caches, Quart, pydantic, the models); every full (generation-2) collection walks all of them. Measured on one
Hypercorn worker serving point reads at c = 16: a full collection took 42-46 ms and ran about once a second, so
about 1 request in 60 waited behind it (p50 10 ms, p99 58 ms). After :func:`freeze_startup_heap` the same
collections take 1.2-1.4 ms, p99 fell to 12 ms and CPU per request by 10 % (docs/loadtest/notes.md).

``gc.freeze()`` moves every object alive at that moment into a permanent generation the collector never scans;
objects made later are collected as usual. The cost is that a cycle among the frozen objects that becomes garbage
later is never freed: start-up state lives as long as the process anyway.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left behind, then freeze the rest; the number of objects frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
