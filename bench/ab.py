"""Interleaved A/B benchmark of server variants: ``python -m bench ab --preset NAME``.

On a shared machine the absolute throughput moves by half from one hour to the next, so two variants measured an
hour apart cannot be compared. What holds still is what both see at the same moment: the variants run side by side
against one scratch seeded database, each is warmed up, then wrk drives them in short alternating bursts (A, B,
then B, A, ... so a slow spell hits both alike) for at least three rounds. For every variant the table gives the
median and range over the rounds of requests/s and of server CPU per request (the CPU seconds of the server's
whole process tree during its burst over the requests it completed: less sensitive to a busy neighbour than
throughput), the median p50/p99 latency, and the ratio of each median to variant A's.

A variant is data (:class:`Variant`): a label, a server kind of :data:`servers.KINDS` (``hypercorn-default`` is
the checkout's default configuration exactly as ``make run`` serves it, its access log included), extra environment
and an optional git ref, served from a temporary ``git worktree``. A preset (:data:`PRESETS`) is a list of variants
with the scenario and concurrency they are meant for. Every server gets the same pool; the other kinds have access
logs off. This prints figures; nothing asserts on them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench import _db
from bench import wrk as wrk_runner
from bench.interleave import Sample, alternate, burst
from bench.servers import (
    ROOT,
    UNBOUNDED_QUEUE,
    Pool,
    RunningServer,
    ServerConfig,
    ServerError,
    imported_from,
    parse_config,
    start,
)
from service.config import DEFAULT_DATABASE_URL

DEFAULT_BASE = "d75f259"  # main before the uvloop and ping-window changes: asyncio loop, a ping at every checkout
BASE = "@base"  # a Variant.ref standing for the --base option
DEFAULT_KIND = "hypercorn-default"
LATENCY_MS = 10
SCENARIOS = {"point": "GET /users/{id}", "latency": "GET /bench/latency?ms={ms}", "write": "POST /users"}
FAIR_POOL_BASE = "9bc5b50"  # main before the first-come-first-served pool (service.db.pool)
MIN_ROUNDS = 3


@dataclass(frozen=True)
class Variant:
    """One side of the comparison: what is started, with which extra environment, from which commit."""

    label: str
    kind: str  # a servers.KINDS name
    env: Mapping[str, str] = field(default_factory=dict)
    ref: str | None = None  # None: the working tree; BASE: the --base option


@dataclass(frozen=True)
class Preset:
    """Variants compared against the first one, with the scenario and concurrency they are meant for."""

    variants: tuple[Variant, ...]
    scenario: str = "point"
    concurrency: int = 16
    pool_size: int | None = None  # None: the concurrency (no request ever waits for a connection)
    latency_ms: int = LATENCY_MS


PRESETS: dict[str, Preset] = {
    "loop": Preset((Variant("asyncio", "hypercorn-asyncio"), Variant("uvloop", "hypercorn-uvloop"))),
    "ping": Preset(
        (
            Variant("ping every checkout", "hypercorn-uvloop", {"DB_POOL_PING_WINDOW": "0"}),
            Variant("ping window 0.5 s", "hypercorn-uvloop", {"DB_POOL_PING_WINDOW": "0.5"}),
        )
    ),
    "main": Preset((Variant("base", DEFAULT_KIND, ref=BASE), Variant("working tree", DEFAULT_KIND))),
    # The base, then today's code under each loop x ping setting: what each change is worth, alone and together.
    "grid": Preset(
        (
            Variant("base", "hypercorn-asyncio", ref=BASE),
            *(
                Variant(f"{loop}, {ping}", f"hypercorn-{loop}", {"DB_POOL_PING_WINDOW": window})
                for loop in ("asyncio", "uvloop")
                for ping, window in (("ping every checkout", "0"), ("ping window 0.5 s", "0.5"))
            ),
        )
    ),
    # The goal there: async (its default configuration) >= 10x sync req/s when every request waits on the database.
    "sync-latency": Preset(
        (Variant("sync", "gunicorn-sync"), Variant("async", DEFAULT_KIND)), scenario="latency", concurrency=64
    ),
    # Issue #14's tail, at the accept: a burst of new connections into one busy worker (base: libuv's one accept
    # per loop iteration, Hypercorn's backlog of 100; now: service.quart_app.accept, hypercorn.toml's 2048).
    "accept": Preset(
        (
            Variant("base", DEFAULT_KIND, UNBOUNDED_QUEUE, ref=BASE),
            Variant("working tree", DEFAULT_KIND, UNBOUNDED_QUEUE),
        ),
        scenario="latency",
        concurrency=256,
        pool_size=40,
        latency_ms=1,
    ),
    # Issue #14's tail: more requests than connections, each holding its connection 50 ms (pool 40 at c = 128 has
    # the ratio of its pool 80 at c = 256, and two of them fit in PostgreSQL's 100 connections).
    "tail": Preset(
        (
            Variant("asyncio.Queue pool", "hypercorn-uvloop", ref=FAIR_POOL_BASE),
            Variant("fair pool", "hypercorn-uvloop"),
        ),
        scenario="latency",
        concurrency=128,
        pool_size=40,
        latency_ms=50,
    ),
}


@dataclass(frozen=True)
class Side:
    """A variant resolved to a server configuration and the checkout it is served from."""

    variant: Variant
    config: ServerConfig
    root: Path
    where: str  # "" for the working tree, else the short commit id


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``ref`` in a temporary directory, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="bench-ab-")) / "tree"
    _git("worktree", "add", "--detach", "--quiet", str(path), ref)
    try:
        yield path
    finally:
        # --force: running the code left __pycache__ directories, which plain remove refuses to discard.
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False, capture_output=True)
        shutil.rmtree(path.parent, ignore_errors=True)


def checkout(ref: str, stack: ExitStack) -> tuple[Path, str]:
    """A worktree of ``ref`` (closed with ``stack``) whose ``service`` package is really the one imported."""
    short = _git("rev-parse", "--short", f"{ref}^{{commit}}")
    root = stack.enter_context(worktree(short))
    # The venv's editable install also maps ``service`` to the main checkout: make sure it does not win.
    found = imported_from(root)
    if found != root / "service":
        raise RuntimeError(f"a server started in the worktree of {short} would import {found}, not {root}/service")
    print(f"{short}: served from {root} (a python started as its server imports {found})", file=sys.stderr)
    return root, short


def interleave(
    sides: Sequence[Side],
    database_url: str,
    pool: Pool,
    *,
    scenario: str,
    concurrency: int,
    rounds: int,
    duration: int,
    warmup: int,
    users: int,
    latency_ms: int = LATENCY_MS,
) -> list[list[Sample]]:
    """Start every side against one scratch seeded database, warm each up, then alternate bursts; samples by side."""
    with _db.scratch_database(database_url) as url, ExitStack() as servers:
        dataset = _db.seed(url, users=users)
        first, last = dataset.first_user_id, dataset.last_user_id
        args: dict[str, str | int] = {"first_id": first, "last_id": last, "ms": latency_ms}
        needed = sum(min(pool.size, s.config.concurrency_per_worker or pool.size) for s in sides)
        if (free := _db.free_connections(url)) < needed + 5:
            # Past max_connections the servers answer 503 "too many clients": a table of those measures nothing.
            raise ServerError(
                f"PostgreSQL has {free} free connections and the servers may open {needed}: "
                "lower --concurrency, or raise max_connections"
            )
        running: list[RunningServer] = []
        bursts = itertools.count()

        def burst_args() -> dict[str, str | int]:
            # A prefix of its own per wrk run: the write scenario's emails restart their count at each run.
            return {**args, "prefix": f"ab{next(bursts)}"}

        for side in sides:
            server = start(side.config, url, pool, extra_env=side.variant.env, root=side.root)
            servers.callback(server.cleanup)
            servers.callback(server.stop)
            running.append(server)
            print(f"{side.variant.label}: {side.config.name} up at {server.base_url}, warming up", file=sys.stderr)
            wrk_runner.run(
                server.base_url, scenario, connections=concurrency, duration=warmup, script_args=burst_args()
            )
        labels = [side.variant.label for side in sides]
        return alternate(labels, rounds, lambda i: burst(running[i], scenario, duration, concurrency, burst_args()))


def machine() -> str:
    """``nproc`` and the CPU model of /proc/cpuinfo."""
    model = "unknown CPU"
    with suppress(OSError, StopIteration):
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return f"nproc {len(os.sched_getaffinity(0))}, {model}"


def table(sides: Sequence[Side], samples: Sequence[Sequence[Sample]]) -> str:
    """The Markdown table: one row per side, ratios of its medians to side A's."""

    def spread(values: list[float], digits: int) -> tuple[str, str]:
        return f"{statistics.median(values):.{digits}f}", f"{min(values):.{digits}f}-{max(values):.{digits}f}"

    rows = [
        "| variant | server | req/s median | req/s min-max | CPU µs/req median | CPU µs/req min-max "
        "| p50 ms | p99 ms | req/s ÷ A | CPU/req ÷ A |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    base_rps = statistics.median(s.rps for s in samples[0])
    base_cpu = statistics.median(s.cpu_us for s in samples[0])
    for letter, side, runs in zip("ABCDEFGH", sides, samples, strict=False):
        rps, cpu = [s.rps for s in runs], [s.cpu_us for s in runs]
        env = "".join(f" `{key}={value}`" for key, value in side.variant.env.items())
        server = side.config.name + (f" @ {side.where}" if side.where else "")
        rps_median, rps_range = spread(rps, 1)
        cpu_median, cpu_range = spread(cpu, 1)
        p50 = statistics.median(s.p50_ms for s in runs)
        p99 = statistics.median(s.p99_ms for s in runs)
        rows.append(
            f"| {letter}: {side.variant.label}{env} | {server} | {rps_median} | {rps_range} | {cpu_median} "
            f"| {cpu_range} | {p50:.2f} | {p99:.2f} | {statistics.median(rps) / base_rps:.2f} "
            f"| {statistics.median(cpu) / base_cpu:.2f} |"
        )
    failed = {side.variant.label: sum(s.failed for s in runs) for side, runs in zip(sides, samples, strict=True)}
    if any(failed.values()):
        rows.append(f"\nFailed answers (5xx other than a deliberate 503, or socket errors): {failed}")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    """Run a preset's interleaved comparison, print its table (0; 1: bad ref or failed run; 2: no wrk)."""
    parser = argparse.ArgumentParser(prog="python -m bench ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", required=True, choices=PRESETS)
    parser.add_argument("--rounds", type=int, default=5, help=f"alternating rounds (at least {MIN_ROUNDS})")
    parser.add_argument("--duration", type=int, default=5, help="seconds per burst")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--concurrency", type=int, help="wrk connections (default: the preset's)")
    parser.add_argument("--scenario", choices=SCENARIOS, help="default: the preset's")
    parser.add_argument("--users", type=int, default=10_000, help="users seeded")
    parser.add_argument("--pool-size", type=int, help="connections per server (default: the preset's)")
    parser.add_argument(
        "--latency-ms", type=int, help="database latency of the latency scenario (default: the preset's)"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"git ref of the 'base' variants (default {DEFAULT_BASE})")
    options = parser.parse_args(argv)
    preset = PRESETS[options.preset]
    scenario = options.scenario or preset.scenario
    concurrency = options.concurrency or preset.concurrency
    latency_ms = preset.latency_ms if options.latency_ms is None else options.latency_ms
    if options.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}: fewer cannot tell a trend from a slow spell")
    if min(options.duration, options.warmup, concurrency, options.users) < 1:
        parser.error("--duration, --warmup, --concurrency and --users must be positive")
    if latency_ms < 0:
        parser.error("--latency-ms cannot be negative")
    if not wrk_runner.available():
        return 2
    pool = Pool(options.pool_size or preset.pool_size or concurrency, 0)
    with ExitStack() as trees:
        checkouts: dict[str, tuple[Path, str]] = {}
        sides = []
        for variant in preset.variants:
            root, where = ROOT, ""
            if variant.ref is not None:
                ref = options.base if variant.ref == BASE else variant.ref
                try:
                    if ref not in checkouts:
                        checkouts[ref] = checkout(ref, trees)
                except (subprocess.CalledProcessError, RuntimeError) as exc:
                    detail = getattr(exc, "stderr", "") or str(exc)
                    print(f"error: cannot serve {ref!r}: {detail.strip()}", file=sys.stderr)
                    return 1
                root, where = checkouts[ref]
            sides.append(Side(variant, parse_config(variant.kind, 1), root, where))
        started = time.strftime("%Y-%m-%d %H:%M %z")
        try:
            samples = interleave(
                sides,
                options.database_url,
                pool,
                scenario=scenario,
                concurrency=concurrency,
                rounds=options.rounds,
                duration=options.duration,
                warmup=options.warmup,
                users=options.users,
                latency_ms=latency_ms,
            )
        except (ServerError, wrk_runner.WrkError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    request_line = SCENARIOS[scenario].replace("{ms}", str(latency_ms))
    print(
        f"**ab {options.preset}** — {machine()}; {started}; scenario {scenario} (`{request_line}`), "
        f"c={concurrency}, {pool.label}; {options.rounds} alternating rounds of {options.duration} s per variant "
        f"after a {options.warmup} s warm-up each; access logs off except on `{DEFAULT_KIND}` servers "
        "(their hypercorn.toml's, as shipped); 1 worker each; "
        f"{options.users} users; ratios are medians over A's.\n"
    )
    print(table(sides, samples))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
