"""Alternating bursts against servers running side by side: the measuring method the comparisons share.

On a shared machine the absolute throughput moves by half from one hour to the next; what holds still is what
several servers see at the same moment. So the servers of a comparison run side by side and wrk drives them in
short alternating bursts (A, B, then B, A, ...: a slow spell hurts every side alike) for several rounds. A
:class:`Sample` is one burst: requests/s, latency, answers by status, socket errors, the CPU of the server's process
tree per request, and the peak RSS of that tree during the burst.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench import wrk as wrk_runner
from bench.memory import PeakRss
from bench.servers import RunningServer

MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """One burst against one server."""

    rps: float
    cpu_us: float  # server process-tree CPU per completed request
    p50_ms: float
    p99_ms: float
    requests: int = 0
    statuses: Mapping[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    rss_mib: float = 0.0  # peak RSS of the server's process tree during the burst

    @property
    def failed(self) -> int:
        """5xx answers other than a deliberate 503, and socket errors (connect, read, write, timeout)."""
        return self.answered(lambda status: status >= 500 and status != 503) + self.socket_errors

    def answered(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for status, n in self.statuses.items() if predicate(int(status)))


def burst(
    server: RunningServer,
    scenario: str,
    seconds: float,
    concurrency: int,
    args: Mapping[str, str | int],
    *,
    timeout: float = 10.0,
) -> Sample:
    """One wrk run against ``server``, with its process tree's CPU and peak RSS measured over the same interval."""
    rss = PeakRss(server.process.pid)
    rss.start()
    server.cpu.start()
    try:
        result = wrk_runner.run(
            server.base_url, scenario, connections=concurrency, duration=seconds, script_args=args, timeout=timeout
        )
    finally:
        cpu_s = server.cpu.stop()
        peak = rss.stop()
    return Sample(
        rps=result.rps,
        cpu_us=1e6 * cpu_s / result.requests if result.requests else float("nan"),
        p50_ms=result.latency_ms["p50"],
        p99_ms=result.latency_ms["p99"],
        requests=result.requests,
        statuses=result.statuses,
        # wrk's "status" error is its count of answers >= 400, already in the statuses: not a socket error.
        socket_errors=sum(n for kind, n in result.socket_errors.items() if kind != "status"),
        rss_mib=peak / MIB,
    )


def alternate(labels: Sequence[str], rounds: int, run: Callable[[int], Sample]) -> list[list[Sample]]:
    """``run(i)`` for every side ``i`` in every round, the order reversed every other round; samples by side."""
    samples: list[list[Sample]] = [[] for _ in labels]
    for round_no in range(rounds):
        order = range(len(labels)) if round_no % 2 == 0 else range(len(labels) - 1, -1, -1)
        for index in order:
            sample = run(index)
            samples[index].append(sample)
            print(
                f"  round {round_no + 1}/{rounds} {labels[index]}: {sample.rps:9.1f} req/s "
                f"{sample.cpu_us:7.1f} µs CPU/req p50 {sample.p50_ms:.1f} p99 {sample.p99_ms:.1f} ms "
                f"{sample.rss_mib:.0f} MiB" + (f" {sample.failed} FAILED" if sample.failed else ""),
                file=sys.stderr,
                flush=True,
            )
    return samples


def median(values: Sequence[float]) -> float:
    """The median of the finite values (a burst that completed nothing has no CPU per request); NaN if none."""
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float("nan")
