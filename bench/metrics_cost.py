"""What the Prometheus metrics cost: ``python -m bench metrics_cost``.

Two servers of one configuration, identical but for ``METRICS_ENABLED`` (true / false), serve the point read
(``GET /users/{id}``) from one scratch database. After a warm-up of each, wrk drives them in alternating rounds
(on, off, then off, on, ... so drift on a noisy machine hits both sides alike) and the cost is
``1 - median(on) / median(off)`` of requests/s. The goal is a cost of at most 5 %. This is a benchmark that prints
a figure, not a test: nothing asserts on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from bench import _db
from bench import wrk as wrk_runner
from bench.servers import KINDS, Pool, RunningServer, parse_config, start
from service.config import DEFAULT_DATABASE_URL

GOAL = 0.05


def main(argv: list[str]) -> int:
    """Measure and print the metrics' throughput cost on the point read (0, or 2 when wrk is missing)."""
    parser = argparse.ArgumentParser(prog="python -m bench metrics_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="hypercorn-asyncio", help=f"one of {', '.join(KINDS)}")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per round and side")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    options = parser.parse_args(argv)
    config = parse_config(options.config, options.workers)
    if config.kind == "limit":
        parser.error("the limit app has no metrics to switch")
    if not wrk_runner.available():
        return 2
    pool = Pool(options.concurrency, 0)
    samples: dict[bool, list[float]] = {True: [], False: []}
    with _db.scratch_database(options.database_url) as url:
        dataset = _db.seed(url, users=options.users)
        args: dict[str, str | int] = {"first_id": dataset.first_user_id, "last_id": dataset.last_user_id}
        servers: dict[bool, RunningServer] = {}
        try:
            for enabled in (True, False):
                servers[enabled] = start(config, url, pool, metrics=enabled)
                wrk_runner.run(
                    servers[enabled].base_url,
                    "point",
                    connections=options.concurrency,
                    duration=options.warmup,
                    script_args=args,
                )
            for round_no in range(options.rounds):
                # Alternate which side goes first: a slow spell on a shared machine then hurts both equally.
                order = (True, False) if round_no % 2 == 0 else (False, True)
                for enabled in order:
                    result = wrk_runner.run(
                        servers[enabled].base_url,
                        "point",
                        connections=options.concurrency,
                        duration=options.duration,
                        script_args=args,
                    )
                    samples[enabled].append(result.rps)
                    label = "on " if enabled else "off"
                    print(
                        f"round {round_no + 1}/{options.rounds} metrics {label}: {result.rps:9.1f} req/s "
                        f"p99 {result.latency_ms['p99']:.2f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            for server in servers.values():
                server.stop()
                server.cleanup()
    on, off = statistics.median(samples[True]), statistics.median(samples[False])
    cost = 1 - on / off if off else float("nan")
    verdict = "met" if cost <= GOAL else "NOT met"
    print(
        f"{config.name}, point read, c={options.concurrency}, {options.rounds} alternating rounds of "
        f"{options.duration} s: median {on:.1f} req/s with metrics, {off:.1f} without; "
        f"cost {100 * cost:.1f} % (goal <= {100 * GOAL:.0f} %: {verdict})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
