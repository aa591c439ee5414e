"""Load through the cluster's front door: 1 async replica vs 3 behind HAProxy, interleaved, on one machine.

    python -m bench cluster [--rounds 3] [--duration 10] [--concurrency 64] [--scenarios point,page,write] --out DIR

It starts the ``make cluster`` topology (:mod:`cluster`: PostgreSQL primary + streaming standby, PgBouncer,
3 replicas, the twin, HAProxy), seeds it, and then, round after round, runs every scenario with wrk against the
front door twice: once with all 3 replicas in rotation, once with replicas 2 and 3 stopped (SIGTERM: they drain
and leave HAProxy's rotation; started again for the next 3-replica pass). The order of the two passes alternates
by round, so drift of the shared machine falls on both alike. Each cell records req/s, latency, the CPU of the
replicas, of HAProxy and of PostgreSQL per request, and where the reads went (the replicas' ``db_reads``
counters: primary or standby).

On a 2-core machine both passes share the same two cores: 3 replicas can only win what one process cannot use
of them (one replica is one event loop, one core at most). The report says so next to its numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import _db
from bench import wrk as wrk_runner
from bench.servers import CpuMeter, PostgresCpuMeter, TreeCpuMeter
from cluster import Cluster, ClusterConfig, replica_name, running_cluster

PASSES = (3, 1)
"""Replicas in rotation in each pass of a round."""
DEFAULT_SCENARIOS = ("point", "page", "write")


@dataclass(frozen=True)
class Plan:
    rounds: int
    duration: int
    warmup: int
    concurrency: int
    scenarios: tuple[str, ...]
    users: int
    out: Path | None


def parse_args(argv: Sequence[str]) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured cell (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up after each change (default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS), help="from: point, page, write, reserve")
    parser.add_argument("--users", type=int, default=10000, help="users to seed (default 10000)")
    parser.add_argument("--out", type=Path, help="write cluster.json and cluster.md there")
    args = parser.parse_args(argv)
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    unknown = set(scenarios) - set(wrk_runner.SCENARIOS) - {"latency"}
    if unknown or "latency" in scenarios:
        parser.error(f"unknown scenario(s) {sorted(unknown or {'latency'})}: the front door serves no /bench route")
    return Plan(args.rounds, args.duration, args.warmup, args.concurrency, scenarios, args.users, args.out)


def read_targets(cluster: Cluster, replicas: int) -> dict[str, float]:
    """Reads so far by target, summed over the replicas that are running."""
    totals = {"primary": 0.0, "replica": 0.0}
    for url in cluster.replica_urls[:replicas]:
        for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
            for target in totals:
                if line.startswith(f'db_reads_total{{target="{target}"}}'):
                    totals[target] += float(line.rsplit(" ", 1)[1])
    return totals


def set_rotation(cluster: Cluster, replicas: int) -> None:
    """Replicas ``0..replicas-1`` running and UP in HAProxy, the others stopped (drained) and DOWN."""
    for i in range(len(cluster.replica_urls)):
        running = cluster.replicas[i].alive()
        if i < replicas and not running:
            cluster.start_replica(i)
        elif i >= replicas and running:
            cluster.stop_replica(i)
    for i in range(len(cluster.replica_urls)):
        cluster.wait_backend("app", replica_name(i), "UP" if i < replicas else "DOWN", 30)


def measure(cluster: Cluster, replicas: int, scenario: str, plan: Plan, args: dict[str, str | int]) -> dict[str, Any]:
    meters: dict[str, CpuMeter] = {
        "replicas": CpuMeter([psutil.Process(cluster.replica_pid(i)) for i in range(replicas)]),
        "haproxy": TreeCpuMeter(cluster.haproxy.pid if cluster.haproxy is not None else 0),
        "postgres": PostgresCpuMeter(),
    }
    reads_before = read_targets(cluster, replicas)
    for meter in meters.values():
        meter.start()
    result = wrk_runner.run(
        cluster.front_url, scenario, connections=plan.concurrency, duration=plan.duration, script_args=args
    )
    cpu = {name: meter.stop() for name, meter in meters.items()}
    reads_after = read_targets(cluster, replicas)
    requests = max(1, result.requests)
    return {
        "replicas": replicas,
        "scenario": scenario,
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "latency_ms": {k: round(v, 2) for k, v in result.latency_ms.items()},
        "non_2xx": result.count(lambda status: status >= 300 and status != 409),
        "statuses": {str(status): n for status, n in sorted(result.statuses.items())},
        "socket_errors": sum(result.socket_errors.values()),
        "cpu_ms_per_request": {name: round(1000 * seconds / requests, 3) for name, seconds in cpu.items()},
        "reads": {target: reads_after[target] - reads_before[target] for target in reads_after},
    }


def run(plan: Plan) -> dict[str, Any]:
    if not wrk_runner.available():
        raise SystemExit(2)
    cells: list[dict[str, Any]] = []
    started = time.monotonic()
    with running_cluster(ClusterConfig(replicas=max(PASSES))) as cluster:
        dataset = _db.seed(cluster.primary_dsn, users=plan.users)
        # Point and page reads carry no token: the standby serves them, and must hold the seed before they start.
        cluster.wait_standby_replayed()
        print(f"cluster up, seeded {plan.users} users: front door {cluster.front_url}", flush=True)
        for round_number in range(plan.rounds):
            order = PASSES if round_number % 2 == 0 else PASSES[::-1]
            for replicas in order:
                set_rotation(cluster, replicas)
                for scenario in plan.scenarios:
                    args: dict[str, str | int] = {
                        "first_id": dataset.first_user_id,
                        "last_id": dataset.last_user_id,
                        "pages": dataset.pages,
                        "products": ",".join(str(p) for p in dataset.products),
                        "prefix": f"c{round_number}r{replicas}",
                    }
                    if plan.warmup:
                        wrk_runner.run(
                            cluster.front_url, scenario, connections=plan.concurrency, duration=plan.warmup,
                            script_args={**args, "prefix": f"w{round_number}r{replicas}"},
                        )  # fmt: skip
                    cell = measure(cluster, replicas, scenario, plan, args)
                    cell["round"] = round_number
                    cells.append(cell)
                    print(_line(cell), flush=True)
        set_rotation(cluster, max(PASSES))
    return {
        "machine": {"cpus": psutil.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "plan": {
            "rounds": plan.rounds,
            "duration_s": plan.duration,
            "concurrency": plan.concurrency,
            "scenarios": list(plan.scenarios),
            "users": plan.users,
        },
        "seconds": round(time.monotonic() - started, 1),
        "cells": cells,
        "summary": summarize(cells, plan.scenarios),
    }


def _line(cell: dict[str, Any]) -> str:
    cpu = cell["cpu_ms_per_request"]
    return (
        f"round {cell['round']} {cell['replicas']} replica(s) {cell['scenario']:>6}: {cell['rps']:8.1f} req/s"
        f"  p50 {cell['latency_ms'].get('p50', 0):6.2f} ms  p99 {cell['latency_ms'].get('p99', 0):7.2f} ms"
        f"  cpu ms/req replicas {cpu['replicas']:.3f} haproxy {cpu['haproxy']:.3f} postgres {cpu['postgres']:.3f}"
        f"  reads {cell['reads']}  errors {cell['non_2xx'] + cell['socket_errors']}"
    )


def summarize(cells: list[dict[str, Any]], scenarios: Sequence[str]) -> dict[str, Any]:
    """Per scenario and pass: the median req/s and its spread, and the ratio 3 replicas / 1 (median of rounds)."""
    summary: dict[str, Any] = {}
    for scenario in scenarios:
        row: dict[str, Any] = {}
        for replicas in PASSES:
            mine = [c for c in cells if c["scenario"] == scenario and c["replicas"] == replicas]
            if not mine:
                continue
            rps = [c["rps"] for c in mine]
            reads = {t: sum(c["reads"][t] for c in mine) for t in ("primary", "replica")}
            row[str(replicas)] = {
                "rps_median": round(statistics.median(rps), 1),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "p99_ms_median": round(statistics.median(c["latency_ms"].get("p99", 0) for c in mine), 2),
                "replica_cpu_ms": round(statistics.median(c["cpu_ms_per_request"]["replicas"] for c in mine), 3),
                "postgres_cpu_ms": round(statistics.median(c["cpu_ms_per_request"]["postgres"] for c in mine), 3),
                "haproxy_cpu_ms": round(statistics.median(c["cpu_ms_per_request"]["haproxy"] for c in mine), 3),
                "standby_read_share": round(reads["replica"] / max(1.0, reads["primary"] + reads["replica"]), 3),
                "errors": sum(c["non_2xx"] + c["socket_errors"] for c in mine),
            }
        by_round = {(c["round"], c["replicas"]): c["rps"] for c in cells if c["scenario"] == scenario}
        ratios = [
            by_round[(round_number, 3)] / rps
            for (round_number, replicas), rps in by_round.items()
            if replicas == 1 and rps > 0 and (round_number, 3) in by_round
        ]
        if ratios:
            row["ratio_3_to_1"] = {
                "median": round(statistics.median(ratios), 2),
                "min": round(min(ratios), 2),
                "max": round(max(ratios), 2),
            }
        summary[scenario] = row
    return summary


def markdown(report: dict[str, Any]) -> str:
    plan, machine = report["plan"], report["machine"]
    lines = [
        "# Through the front door: 1 async replica vs 3 behind HAProxy",
        "",
        f"`python -m bench cluster`: {plan['rounds']} interleaved rounds, {plan['duration_s']} s per cell,"
        f" wrk c={plan['concurrency']}, {plan['users']} users; {machine['cpus']} CPUs, {machine['platform']},"
        f" Python {machine['python']}. Every part (HAProxy, replicas, PgBouncer, primary, standby, wrk) shares"
        " these cores: this measures what a second and third process win on one machine, not what more machines"
        " would.",
        "",
        "| scenario | replicas | req/s median (min-max) | 3/1 ratio median (min-max) | p99 ms | CPU ms/req:"
        " replicas | postgres | haproxy | reads on the standby | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, row in report["summary"].items():
        ratio = row.get("ratio_3_to_1")
        for replicas in ("1", "3"):
            cell = row.get(replicas)
            if cell is None:
                continue
            ratio_text = f"{ratio['median']} ({ratio['min']}-{ratio['max']})" if ratio and replicas == "3" else ""
            lines.append(
                f"| {scenario} | {replicas} | {cell['rps_median']} ({cell['rps_min']}-{cell['rps_max']}) |"
                f" {ratio_text} | {cell['p99_ms_median']} | {cell['replica_cpu_ms']} | {cell['postgres_cpu_ms']} |"
                f" {cell['haproxy_cpu_ms']} | {100 * cell['standby_read_share']:.0f}% | {cell['errors']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    plan = parse_args(argv)
    report = run(plan)
    print(markdown(report))
    if plan.out is not None:
        plan.out.mkdir(parents=True, exist_ok=True)
        (plan.out / "cluster.json").write_text(json.dumps(report, indent=2) + "\n")
        (plan.out / "cluster.md").write_text(markdown(report))
    return 0
