"""The side-by-side load comparison: ``python -m bench compare [--quick]``.

In one run on one machine: create a scratch database (``alembic upgrade head``, bulk seeding), then for every
server configuration — Gunicorn sync and gthread serving the Flask twin, Hypercorn asyncio and uvloop serving the
async service, each with 1 and N workers, plus the raw-asyncpg "limit" app — start it as a real process, warm it
up, drive every scenario at every concurrency level with wrk, stop it and move on. Each cell records requests/s,
latency percentiles, answers by status, socket errors, and the CPU seconds of wrk, of the server's processes and of
PostgreSQL. The results are written as Markdown, PNG charts and raw JSON (see :mod:`bench.report`).

Fairness rules: the same pool settings for every process of every configuration with the same worker count
(``pool_size`` = the highest concurrency level / workers, ``max_overflow`` = 0: QueuePool opens connections lazily,
so each process opens only as many as it serves at once — 1 per sync worker, up to 16 per gthread-16 worker — and
never churns overflow connections); equal
worker counts in every comparison; a warm-up before every scenario; wrk connections = concurrency and at most two
wrk threads (two cores); the data reset (writes deleted, tables vacuumed) before every server. An "overflow churn"
variant (a tiny pool with a large overflow) shows what the default avoids.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _db, report
from bench import wrk as wrk_runner
from bench.servers import KINDS, PostgresCpuMeter, RunningServer, ServerConfig, ServerError, parse_config
from bench.servers import Pool as PoolSettings
from bench.servers import start as start_server
from service.config import DEFAULT_DATABASE_URL

SCENARIOS = wrk_runner.SCENARIOS
DEFAULT_CONFIGS = ("gunicorn-sync", "gunicorn-gthread", "hypercorn-asyncio", "hypercorn-uvloop", "limit")
CHURN_CONFIGS = ("hypercorn-asyncio", "gunicorn-gthread")
# The write scenarios go last on each server: the reads then see exactly the seeded data.
SCENARIO_ORDER = ("point", "page", "latency", "write", "reserve")


@dataclass(frozen=True)
class Plan:
    """Everything a run does, from the command line (``--quick``/full defaults, then explicit options)."""

    mode: str
    configs: tuple[str, ...]
    workers: tuple[int, ...]
    levels: tuple[int, ...]
    scenarios: tuple[str, ...]
    duration: int
    warmup: int
    users: int
    threads: int
    wrk_threads: int
    latency_ms: int
    churn_configs: tuple[str, ...]
    churn_pool_size: int
    metrics: bool
    out: Path
    keep: bool
    database_url: str

    def pool(self, workers: int) -> PoolSettings:
        """Each process's share of the highest level, no overflow (the same for every kind at ``workers``).

        Sized per worker, not per run: pools never shrink, so two workers with a pool of the whole level each
        would end up holding twice the connections the load needs (and meet PostgreSQL's max_connections).
        """
        return PoolSettings(size=-(-max(self.levels) // workers), overflow=0)

    def churn_pool(self, workers: int) -> PoolSettings:
        return PoolSettings(size=self.churn_pool_size, overflow=self.pool(workers).size)

    def cell_duration(self, concurrency: int) -> int:
        # One connection's latency settles within seconds; the longer runs go to the contended levels.
        return max(1, self.duration // 2) if concurrency == 1 else self.duration

    def server_runs(self) -> list[tuple[ServerConfig, str, tuple[str, ...], tuple[int, ...]]]:
        """(configuration, variant, scenarios, levels) for each server start, in order."""
        runs = []
        for workers in self.workers:
            for kind in self.configs:
                config = parse_config(kind, workers, self.threads)
                scenarios = ("point",) if config.kind == "limit" else self.scenarios
                runs.append((config, "default", tuple(s for s in scenarios if s in self.scenarios), self.levels))
        churn_levels = tuple(c for c in self.levels if c > self.churn_pool_size)
        if "point" in self.scenarios and churn_levels:
            # Only next to a default run of the same configuration, so the table can show the difference.
            for kind in (k for k in self.churn_configs if k in self.configs):
                config = parse_config(kind, max(self.workers), self.threads)
                runs.append((config, "churn", ("point",), churn_levels))
        return [run for run in runs if run[2]]

    def planned_seconds(self) -> float:
        total = 0.0
        for _, _, scenarios, levels in self.server_runs():
            total += 4 + len(scenarios) * (self.warmup + sum(self.cell_duration(c) + 0.3 for c in levels))
        return total


@dataclass
class Progress:
    """One line per cell on stderr: where the run is, how long it has left, what the cell measured."""

    total_cells: int
    planned_seconds: float
    started: float = field(default_factory=time.monotonic)
    done: int = 0

    def line(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        left = max(0.0, self.planned_seconds - elapsed)
        stamp = f"[{self.done:>3}/{self.total_cells} {_clock(elapsed)} elapsed, ~{_clock(left)} left]"
        print(f"{stamp} {text}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def parse_args(argv: Sequence[str]) -> Plan:
    """The run's :class:`Plan`; ``--quick`` changes the defaults, explicit options still win."""
    parser = argparse.ArgumentParser(prog="python -m bench compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (< 3 min): N workers, c=16,64, 2 s cells")
    parser.add_argument("--configs", help=f"comma-separated, from: {', '.join(KINDS)} (default: all)")
    parser.add_argument("--workers", help="comma-separated worker counts (default: 1,N; quick: N)")
    parser.add_argument("--n-workers", type=int, default=2, help="N, the multi-worker count (default 2)")
    parser.add_argument("--levels", help="comma-separated concurrency levels (default 1,16,64; quick 16,64)")
    parser.add_argument("--scenarios", help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--duration", type=int, help="seconds per measured cell (default 10; quick 2)")
    parser.add_argument("--warmup", type=int, help="seconds of warm-up per server and scenario (default 3; quick 1)")
    parser.add_argument("--users", type=int, help="users to seed (default 10000; quick 2000)")
    parser.add_argument("--threads", type=int, default=16, help="threads per gthread worker (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads, at most the cores (default 2)")
    parser.add_argument("--latency-ms", type=int, default=10, help="pg_sleep of the latency-bound read (ms)")
    parser.add_argument("--churn-configs", help="configs also run with the overflow-churn pool ('' for none)")
    parser.add_argument("--churn-pool-size", type=int, default=2, help="pool_size of the churn variant")
    parser.add_argument("--no-metrics", action="store_true", help="serve with METRICS_ENABLED=false")
    parser.add_argument("--out", type=Path, help="report directory (default: bench-results/<timestamp>)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    options = parser.parse_args(list(argv))
    quick = options.quick

    def ints(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(int(v) for v in text.split(",") if v.strip()) if text else default

    def names(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip() for v in text.split(",") if v.strip()) if text is not None else default

    n = options.n_workers
    plan = Plan(
        mode="quick" if quick else "full",
        configs=names(options.configs, DEFAULT_CONFIGS),
        workers=ints(options.workers, (n,) if quick else (1, n)),
        levels=tuple(sorted(ints(options.levels, (16, 64) if quick else (1, 16, 64)))),
        scenarios=tuple(s for s in SCENARIO_ORDER if s in names(options.scenarios, SCENARIOS)),
        duration=options.duration or (2 if quick else 10),
        warmup=options.warmup if options.warmup is not None else (1 if quick else 3),
        users=options.users or (2000 if quick else 10_000),
        threads=options.threads,
        wrk_threads=options.wrk_threads,
        latency_ms=options.latency_ms,
        churn_configs=names(options.churn_configs, CHURN_CONFIGS[:1] if quick else CHURN_CONFIGS),
        churn_pool_size=options.churn_pool_size,
        metrics=not options.no_metrics,
        out=options.out or Path("bench-results") / time.strftime("%Y%m%d-%H%M%S"),
        keep=options.keep,
        database_url=options.database_url,
    )
    for name in (*plan.configs, *plan.churn_configs):
        parse_config(name, 1, plan.threads)  # fails early, with the list of known names
    unknown = set(names(options.scenarios, SCENARIOS)) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if not plan.levels or min(plan.levels) < 1 or not plan.workers or min(plan.workers) < 1:
        parser.error("levels and worker counts must be positive")
    return plan


def script_args(plan: Plan, dataset: _db.Dataset, prefix: str) -> dict[str, str | int]:
    return {
        "first_id": dataset.first_user_id,
        "last_id": dataset.last_user_id,
        "pages": dataset.pages,
        "ms": plan.latency_ms,
        "products": ",".join(str(p) for p in dataset.products),
        "prefix": prefix,
    }


def measure(
    plan: Plan,
    server: RunningServer,
    scenario: str,
    concurrency: int,
    duration: int,
    args: dict[str, str | int],
) -> dict[str, Any]:
    """One cell: wrk for ``duration`` seconds, with the server's and PostgreSQL's CPU over the same window."""
    postgres = PostgresCpuMeter()
    server.cpu.start()
    postgres.start()
    result = wrk_runner.run(
        server.base_url,
        scenario,
        connections=concurrency,
        duration=duration,
        threads=plan.wrk_threads,
        script_args=args,
    )
    server_cpu, postgres_cpu = server.cpu.stop(), postgres.stop()
    seconds = result.duration_s or float(duration)
    cpu = {"wrk": result.cpu_s, "server": server_cpu, "postgres": postgres_cpu}
    return {
        "requests": result.requests,
        "duration_s": round(result.duration_s, 3),
        "rps": round(result.rps, 1),
        "latency_ms": {k: round(v, 3) for k, v in result.latency_ms.items()},
        "statuses": result.statuses,
        "socket_errors": {k: v for k, v in result.socket_errors.items() if v},
        "conflicts": result.conflicts,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_pct": {k: round(100 * v / seconds, 1) for k, v in cpu.items()},
    }


def run_server(
    plan: Plan,
    url: str,
    dataset: _db.Dataset,
    spec: tuple[ServerConfig, str, tuple[str, ...], tuple[int, ...]],
    progress: Progress,
    cells: list[dict[str, Any]],
    nonce: str,
) -> None:
    """Start one configuration, run its scenarios (warm-up, then each level), stop it; append its cells."""
    config, variant, scenarios, levels = spec
    pool = plan.churn_pool(config.workers) if variant == "churn" else plan.pool(config.workers)
    base = {
        "config": config.name,
        "kind": config.kind,
        "workers": config.workers,
        "threads": config.threads if config.kind == "gunicorn-gthread" else 1,
        "async": config.is_async,
        "variant": variant,
        "pool": {"size": pool.size, "overflow": pool.overflow},
    }
    label = f"{config.name}{' (churn)' if variant == 'churn' else ''}"
    progress.line(f"{label}: starting ({pool.label})")
    try:
        server = start_server(config, url, pool, metrics=plan.metrics)
    except ServerError as exc:
        for scenario in scenarios:
            for c in levels:
                cells.append({**base, "scenario": scenario, "concurrency": c, "error": str(exc)[:2000]})
                progress.done += 1
        progress.line(f"{label}: FAILED to start: {str(exc).splitlines()[0]}")
        return
    try:
        for scenario in scenarios:
            prefix = f"b{nonce}{len(cells)}"
            try:
                # At the highest level: the pool opens every connection a level will use, the code paths warm up.
                if plan.warmup > 0:
                    wrk_runner.run(
                        server.base_url,
                        scenario,
                        connections=max(levels),
                        duration=plan.warmup,
                        threads=plan.wrk_threads,
                        script_args=script_args(plan, dataset, f"{prefix}warm"),
                    )
            except wrk_runner.WrkError as exc:
                progress.line(f"{label} {scenario}: warm-up failed: {exc}")
            for c in levels:
                cell = {**base, "scenario": scenario, "concurrency": c}
                if scenario == "reserve":
                    # Each reservation leaves a dead version of a hot row: start every level from a clean table.
                    _db.vacuum(url, "products")
                try:
                    args = script_args(plan, dataset, f"{prefix}c{c}")
                    cell.update(measure(plan, server, scenario, c, plan.cell_duration(c), args))
                except wrk_runner.WrkError as exc:
                    cell["error"] = str(exc)[:2000]
                if server.process.poll() is not None:
                    cell["error"] = f"server exited with {server.process.returncode}: {server.log_tail(1500)}"
                elif report.server_errors(cell):
                    cell["server_log"] = server.log_tail(3000)  # what the 5xx were, for the report's reader
                cells.append(cell)
                progress.done += 1
                progress.line(f"{label:<26} {scenario:<8} c={c:<3} {_summary(cell)}")
    finally:
        code = server.stop()
        if code not in (0, None, -15):
            progress.line(f"{label}: exited with {code} on SIGTERM; log tail:\n{server.log_tail(1500)}")
        server.cleanup()
        _db.reset(url, dataset)


def _summary(cell: dict[str, Any]) -> str:
    if "error" in cell:
        return f"ERROR {cell['error'].splitlines()[0][:120]}"
    non_2xx = {k: v for k, v in cell["statuses"].items() if not k.startswith("2")}
    errors = cell["socket_errors"]
    cpu = cell["cpu_pct"]
    return (
        f"{cell['rps']:>9.1f} req/s  p50 {cell['latency_ms']['p50']:7.2f}  p99 {cell['latency_ms']['p99']:8.2f} ms"
        f"  cpu wrk/srv/pg {cpu['wrk']:.0f}/{cpu['server']:.0f}/{cpu['postgres']:.0f}%"
        + (f"  non-2xx {non_2xx}" if non_2xx else "")
        + (f"  socket errors {errors}" if errors else "")
    )


def run(plan: Plan, argv: Sequence[str]) -> dict[str, Any]:
    """Carry out ``plan``; the results (see :func:`bench.report.write`)."""
    wrk_runner.wrk_binary()  # fail before creating anything when wrk is missing
    runs = plan.server_runs()
    progress = Progress(sum(len(s) * len(levels) for _, _, s, levels in runs), plan.planned_seconds())
    cells: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "schema": 1,
        "command": "python -m bench compare " + " ".join(argv),
        "mode": plan.mode,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": report.machine_info(plan.database_url),
        "cells": cells,
    }
    progress.line(f"preparing a scratch database ({plan.users} users) ...")
    with _db.scratch_database(plan.database_url, keep=plan.keep) as url:
        dataset = _db.seed(url, users=plan.users)
        results["settings"] = {
            "levels": list(plan.levels),
            "workers": list(plan.workers),
            "scenarios": list(plan.scenarios),
            "duration_s": plan.duration,
            "duration_c1_s": plan.cell_duration(1),
            "warmup_s": plan.warmup,
            "wrk_threads": plan.wrk_threads,
            "gthread_threads": plan.threads,
            "latency_ms": plan.latency_ms,
            "pool": {str(w): {"size": plan.pool(w).size, "overflow": 0} for w in plan.workers},
            "churn_pool": {
                str(w): {"size": plan.churn_pool(w).size, "overflow": plan.churn_pool(w).overflow} for w in plan.workers
            },
            "metrics_enabled": plan.metrics,
            "access_log": False,
            "seeded_users": plan.users,
            "seeded_with": dataset.seeded_with,
            "dataset": {
                "user_ids": [dataset.first_user_id, dataset.last_user_id],
                "pages": dataset.pages,
                "hot_products": list(dataset.products),
            },
        }
        progress.line(f"seeded with {dataset.seeded_with}; {len(runs)} server runs, {progress.total_cells} cells")
        free = _db.free_connections(url)
        if free < max(plan.levels) + 10:
            progress.line(f"warning: PostgreSQL has {free} free connections for a highest level of {max(plan.levels)}")
        nonce = secrets.token_hex(3)
        try:
            for spec in runs:
                run_server(plan, url, dataset, spec, progress, cells, nonce)
        finally:
            results["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
            results["elapsed_s"] = round(time.monotonic() - progress.started, 1)
    return results


def main(argv: list[str]) -> int:
    """Run the comparison and write the report; 1 when a cell failed or a server answered 5xx."""
    plan = parse_args(argv)
    try:
        results = run(plan, argv)
    except wrk_runner.WrkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    paths = report.write(results, plan.out)
    print(f"report: {paths.markdown}\nraw results: {paths.json}", file=sys.stderr)
    failed = [c for c in results["cells"] if "error" in c or report.server_errors(c)]
    for cell in failed:
        print(f"failed cell: {cell['config']} {cell['scenario']} c={cell['concurrency']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
