"""Where the async service wins, where the twin does, and by how much: ``python -m bench decide [--quick]``.

One run on one machine, every load on loopback and bounded in time, every cell interleaved (the servers of a cell
run side by side and take alternating wrk bursts, :mod:`bench.interleave`):

* **goals**, measured in two independent passes (one at the start, one at the end of the run), so that the report
  shows whether each goal ratio reproduces;
* **the crossover sweep**: ``/bench/latency?ms=`` at each database latency and concurrency level, Gunicorn sync,
  Gunicorn gthread-16 and Hypercorn uvloop with one worker each, plus two workers at one level;
* **the scenarios**: the five scenarios of ``bench compare`` (point read, list page, latency-bound read, insert,
  contended reservation) at one level, the same three servers side by side;
* **slow clients**: the point read at c = 16 while other connections stall mid-headers;
* **connections and memory**: idle keep-alive connections held open under a light load.

Pools: Gunicorn sync holds one connection per worker, gthread one per thread, the async service ``--async-pool``
per server (split over its workers), no overflow. All three run at once against PostgreSQL, so the sum must stay
under its ``max_connections`` (100 on these machines): 1 + 16 + 60 by default. In the sweep the async service's
pool queue is unbounded (``DB_POOL_MAX_WAITERS=0``: every request waits its turn, first come first served), so the
sweep measures capacity; the goal at the highest level is also run with the default bound, which answers the
excess at once with 503. wrk's timeout (``--wrk-timeout``) is above any queueing that allows. Writes the report
(:mod:`bench.decision_report`) and the raw JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import _db, decision_report
from bench import wrk as wrk_runner
from bench.ab import machine
from bench.held import Mode, held_connections
from bench.interleave import Sample, alternate, burst
from bench.memory import tree_rss
from bench.servers import UNBOUNDED_QUEUE, Pool, RunningServer, ServerConfig, ServerError, parse_config, start
from service.config import DEFAULT_DATABASE_URL

SYNC, GTHREAD, ASYNC = "gunicorn-sync", "gunicorn-gthread", "hypercorn-uvloop"
SECTIONS = ("goals", "sweep", "scenarios", "slow", "memory")
# Reads first: they see exactly the seeded data (as in bench compare).
SCENARIOS = ("point", "page", "latency", "write", "reserve")


@dataclass(frozen=True)
class Plan:
    """What a run measures; ``--quick`` shrinks every dimension to a smoke test of the same code paths."""

    quick: bool = False
    rounds: int = 3
    duration: float = 5.0
    warmup: float = 2.0
    users: int = 10_000
    latencies: tuple[int, ...] = (1, 5, 20, 50, 100)
    levels: tuple[int, ...] = (64, 256, 1024)
    two_worker_level: int = 256
    scenario_level: int = 64
    scenario_ms: int = 10  # the latency scenario's, as bench compare's
    stalls: tuple[int, ...] = (0, 100, 500, 1000)
    idle: int = 1024
    goal_levels: tuple[int, int, int] = (64, 256, 1024)  # the latency goal's, the 50 ms goal's, the "every answer"
    goal_stalled: int = 500
    passes: int = 2  # of the goal cells: the first and the last step of the run
    tail_duration: float = 30.0  # seconds per burst of the goal cells at c >= 256, whose p99 / p50 must reproduce
    idle_keep_alive: int = 65  # the memory section's keep-alive timeout (hypercorn.toml's), above a burst
    async_pool: int = 60
    wrk_timeout: float = 30.0
    probe_timeout: float = 10.0
    drain_timeout: float = 5.0  # seconds a server may take to finish what a burst left queued before it is restarted
    sections: tuple[str, ...] = SECTIONS
    out: Path = Path("docs/loadtest")
    database_url: str = DEFAULT_DATABASE_URL


QUICK = {
    "quick": True,
    "duration": 1.0,
    "warmup": 1.0,
    "users": 500,
    "latencies": (50,),
    "levels": (32,),
    "passes": 1,
    "tail_duration": 1.0,
    "idle_keep_alive": 10,
    "two_worker_level": 8,
    "scenario_level": 16,
    "stalls": (0, 20),
    "idle": 40,
    "goal_levels": (16, 32, 64),
    "goal_stalled": 20,
    "wrk_timeout": 10.0,
    "probe_timeout": 2.0,
    "drain_timeout": 2.0,
}


@dataclass
class Run:
    """A run in progress: the seeded database and the cells measured so far (plain dicts, written as JSON)."""

    plan: Plan
    url: str
    dataset: _db.Dataset
    cells: list[dict[str, Any]] = field(default_factory=list)
    _envs: dict[int, dict[str, str]] = field(default_factory=dict)  # by port: what a restart starts again with
    _nonce: str = field(default_factory=lambda: secrets.token_hex(3))
    _bursts: int = 0

    def args(self, ms: int = 0) -> dict[str, str | int]:
        """wrk's script arguments for one run; each gets its own prefix, so no two runs insert the same email."""
        self._bursts += 1
        return {
            "first_id": self.dataset.first_user_id,
            "last_id": self.dataset.last_user_id,
            "pages": self.dataset.pages,
            "products": ",".join(str(p) for p in self.dataset.products),
            "ms": ms,
            "prefix": f"d{self._nonce}-{self._bursts}",
        }

    def pool(self, kind: str, workers: int) -> Pool:
        if kind == SYNC:
            return Pool(1)
        if kind == GTHREAD:
            return Pool(16)
        return Pool(max(1, self.plan.async_pool // workers))

    @contextmanager
    def serving(
        self,
        kinds: Sequence[str],
        workers: int = 1,
        async_env: Mapping[str, str] | None = None,
        keep_alive: int | None = None,
    ) -> Iterator[list[RunningServer]]:
        """Start ``kinds`` side by side with ``workers`` each; the list's servers are stopped at the end (a server
        restarted by :meth:`_drain` replaces its predecessor in the list)."""
        servers: list[RunningServer] = []
        try:
            for kind in kinds:
                config = parse_config(kind, workers)
                if keep_alive is not None:
                    config = dataclasses.replace(config, keep_alive=keep_alive)
                servers.append(self._start(config, dict(async_env or {}) if config.is_async else {}))
            print(f"serving {', '.join(s.config.name for s in servers)}", file=sys.stderr, flush=True)
            yield servers
        finally:
            for server in servers:
                server.stop()
                server.cleanup()

    def _start(self, config: ServerConfig, env: dict[str, str]) -> RunningServer:
        server = start(config, self.url, self.pool(config.kind, config.workers), extra_env=env)
        self._envs[server.port] = env
        return server

    def cell(
        self,
        section: str,
        servers: list[RunningServer],
        scenario: str,
        concurrency: int,
        *,
        ms: int = 0,
        condition: str = "",
        around: Callable[[RunningServer], Any] | None = None,
        duration: float | None = None,
        **extra: Any,
    ) -> list[dict[str, Any]]:
        """Warm every server up, then alternate bursts between them; one record per server, appended to the run.

        ``around(server)``, when given, is a context manager entered for each burst (held connections, say); the
        ``note()`` of what it yields goes into the record's ``notes``, one per burst.
        """
        timeout = self.plan.wrk_timeout
        for server in servers:
            wrk_runner.run(
                server.base_url, scenario, connections=concurrency, duration=self.plan.warmup, script_args=self.args(ms)
            )
            self._drain(servers, server)
        notes: list[list[dict[str, Any]]] = [[] for _ in servers]

        def one(index: int) -> Sample:
            server = servers[index]
            with around(server) if around else nullcontext() as held:
                seconds = duration or self.plan.duration
                sample = burst(server, scenario, seconds, concurrency, self.args(ms), timeout=timeout)
                note = held.note() if held is not None else {}
            note["drain_s"] = self._drain(servers, server)
            notes[index].append(note)
            return sample

        label = f"{section} {scenario} ms={ms} c={concurrency} {condition}".strip()
        print(label, file=sys.stderr, flush=True)
        samples = alternate([s.config.name for s in servers], self.plan.rounds, one)
        records = []
        for server, runs, server_notes in zip(servers, samples, notes, strict=True):
            record = {
                "section": section,
                "server": server.config.name,
                "kind": server.config.kind,
                "workers": server.config.workers,
                "scenario": scenario,
                "ms": ms,
                "concurrency": concurrency,
                "condition": condition,
                "duration_s": duration or self.plan.duration,
                "samples": [dataclasses.asdict(s) for s in runs],
                "notes": server_notes,
                **extra,
            }
            records.append(record)
        self.cells.extend(records)
        return records

    def _drain(self, servers: list[RunningServer], server: RunningServer) -> float | None:
        """Wait until ``server`` answers ``/health`` within a second again (a sync worker may still be serving a
        burst's queue after wrk closed its connections); past the plan's ``drain_timeout``, restart it in place."""
        started = time.monotonic()
        while time.monotonic() - started < self.plan.drain_timeout:
            try:
                with urllib.request.urlopen(f"{server.base_url}/health", timeout=1) as response:
                    if response.status == 200:
                        return round(time.monotonic() - started, 2)
            except (urllib.error.URLError, OSError):
                pass
        print(
            f"  {server.config.name} still busy after {self.plan.drain_timeout:.0f} s: restarting it", file=sys.stderr
        )
        server.stop()
        server.cleanup()
        # Callers index the list at every burst, so the next burst goes to the new process.
        servers[servers.index(server)] = self._start(server.config, self._envs.pop(server.port))
        return None


class Held:
    """Connections held open during one burst, and what the server still answered meanwhile."""

    def __init__(self, server: RunningServer, count: int, mode: Mode, probe_timeout: float | None) -> None:
        self.server, self.count, self.mode = server, count, mode
        self.probe_timeout = probe_timeout  # None: no probe
        self._stack = ExitStack()
        self.opened = 0
        self.rss_mib = 0.0

    def __enter__(self) -> Held:
        if self.count:
            held = self._stack.enter_context(held_connections("127.0.0.1", self.server.port, self.count, self.mode))
            self.opened = held.opened
            self._held = held
        self.rss_mib = tree_rss(self.server.process.pid) / (1024 * 1024)
        return self

    def note(self) -> dict[str, Any]:
        note: dict[str, Any] = {"held": self.count, "opened": self.opened, "rss_held_mib": round(self.rss_mib, 1)}
        if self.count:
            note["still_open"] = self._held.still_open()
        if self.probe_timeout is not None:
            note["probe"] = probe(self.server, self.probe_timeout)
        return note

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def holding(count: int, mode: Mode, *, probe: float | None = None) -> Callable[[RunningServer], Held]:
    """What :meth:`Run.cell` enters around each burst: ``count`` connections held in ``mode`` (and, with a probe
    timeout, one ordinary request sent while they are)."""
    return lambda server: Held(server, count, mode, probe)


def probe(server: RunningServer, timeout: float = 10.0) -> dict[str, Any]:
    """One ordinary request (``GET /health``): does the server still answer, and how fast."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(f"{server.base_url}/health", timeout=timeout) as response:
            status: int | str = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        status = type(exc).__name__
    return {"status": status, "seconds": round(time.monotonic() - started, 3)}


# -- the sections -----------------------------------------------------------------------------------------------


def goals(run: Run, pass_no: int) -> None:
    """The cells the goal table is computed from (see :func:`bench.decision_report.evaluate`)."""
    plan = run.plan
    latency_c, slow_c, every_c = plan.goal_levels
    section = f"goals-{pass_no}"
    for workers in (1, 2):
        with run.serving([SYNC, ASYNC], workers) as servers:
            run.cell(section, servers, "latency", latency_c, ms=10, goal="latency")
    with run.serving([GTHREAD, ASYNC], async_env=UNBOUNDED_QUEUE) as servers:
        # Longer bursts: connecting hundreds of clients at the start of a burst weighs on its tail, less so the
        # longer the burst (p99 / p50 of the two passes of one run: 2.94 and 1.62 with 5 s bursts, 1.43 and 1.11
        # with 15 s; one server's rounds at c = 256: p99 352-477 ms with 15 s, 322-336 ms with 30 s).
        long = plan.tail_duration
        run.cell(section, servers, "latency", slow_c, ms=50, goal="slow", duration=long)
        run.cell(
            section, servers[1:], "latency", every_c, ms=50, goal="every", condition="unbounded queue", duration=long
        )
    with run.serving([ASYNC]) as servers:
        run.cell(
            section,
            servers,
            "latency",
            every_c,
            ms=50,
            goal="every-default",
            condition="default queue bound",
            duration=plan.tail_duration,
        )
        for stalled in (0, plan.goal_stalled):
            run.cell(
                section,
                servers,
                "point",
                16,
                condition=f"{stalled} stalled",
                around=holding(stalled, "stalled"),
                goal="stalled",
                stalled=stalled,
            )
    with run.serving([SYNC, ASYNC]) as servers:
        run.cell(section, servers, "point", 16, goal="cpu")


def sweep(run: Run) -> None:
    """Latency by concurrency for the three servers, one worker each, then two workers at one level."""
    plan = run.plan
    for workers, levels in ((1, plan.levels), (2, (plan.two_worker_level,))):
        with run.serving([SYNC, GTHREAD, ASYNC], workers, async_env=UNBOUNDED_QUEUE) as servers:
            for ms in plan.latencies:
                for concurrency in levels:
                    run.cell("sweep", servers, "latency", concurrency, ms=ms)


def scenarios(run: Run) -> None:
    """bench compare's five scenarios at one level, the three servers side by side with one worker each."""
    with run.serving([SYNC, GTHREAD, ASYNC]) as servers:
        for scenario in SCENARIOS:
            if scenario == "reserve":
                # Every reservation leaves a dead version of a hot row: start from a clean table.
                _db.vacuum(run.url, "products")
            ms = run.plan.scenario_ms if scenario == "latency" else 0
            run.cell("scenarios", servers, scenario, run.plan.scenario_level, ms=ms)


def slow_clients(run: Run) -> None:
    """The point read at c = 16 on each server while other connections stall mid-headers."""
    with run.serving([SYNC, GTHREAD, ASYNC]) as servers:
        for stalled in run.plan.stalls:
            run.cell(
                "slow",
                servers,
                "point",
                16,
                condition=f"{stalled} stalled",
                around=holding(stalled, "stalled", probe=run.plan.probe_timeout),
                stalled=stalled,
            )


def memory(run: Run) -> None:
    """RSS with no other connection and with ``idle`` idle keep-alive connections, under a light load (c = 4); the
    servers keep idle connections as long as hypercorn.toml says, longer than a burst."""
    with run.serving([SYNC, GTHREAD, ASYNC], keep_alive=run.plan.idle_keep_alive) as servers:
        for idle in (0, run.plan.idle):
            run.cell(
                "memory",
                servers,
                "point",
                4,
                condition=f"{idle} idle",
                around=holding(idle, "idle"),
                idle=idle,
            )


def parse_args(argv: Sequence[str]) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench decide", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test of every section, one goal pass")
    parser.add_argument("--rounds", type=int, help="alternating rounds per cell (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per burst (default 5)")
    parser.add_argument("--sections", help=f"comma-separated, from {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--async-pool", type=int, help="connections of the async server (default 60)")
    parser.add_argument("--out", type=Path, help="report directory (default docs/loadtest; quick: bench-results)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    options = parser.parse_args(list(argv))
    values: dict[str, Any] = dict(QUICK) if options.quick else {}
    values["out"] = options.out or (Path("bench-results") / "decide-quick" if options.quick else Plan.out)
    values["database_url"] = options.database_url
    for name in ("rounds", "duration", "async_pool"):
        if getattr(options, name) is not None:
            values[name] = getattr(options, name)
    if options.sections:
        values["sections"] = tuple(s.strip() for s in options.sections.split(",") if s.strip())
        if unknown := set(values["sections"]) - set(SECTIONS):
            parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    plan = Plan(**values)
    if plan.rounds < 3:
        parser.error("--rounds must be at least 3: fewer cannot tell a trend from a slow spell")
    return plan


def main(argv: list[str]) -> int:
    """Run the plan and write the report; 0, or 1 when a server failed, 2 without wrk."""
    plan = parse_args(argv)
    if not wrk_runner.available():
        return 2
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: the servers are stopped and the scratch database dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    results: dict[str, Any] = {
        "schema": 1,
        "command": "python -m bench decide " + " ".join(argv),
        "machine": machine(),
        "started_at": time.strftime("%Y-%m-%d %H:%M %z"),
        "plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(plan).items()},
    }
    try:
        with _db.scratch_database(plan.database_url) as url:
            run = Run(plan, url, _db.seed(url, users=plan.users))
            results["cells"] = run.cells
            steps: list[Callable[[], None]] = []
            if "goals" in plan.sections:
                steps.append(lambda: goals(run, 1))
            steps += [
                {
                    "sweep": lambda: sweep(run),
                    "scenarios": lambda: scenarios(run),
                    "slow": lambda: slow_clients(run),
                    "memory": lambda: memory(run),
                }[s]
                for s in ("sweep", "scenarios", "slow", "memory")
                if s in plan.sections
            ]
            if "goals" in plan.sections and plan.passes > 1:
                steps.append(lambda: goals(run, 2))
            for step in steps:
                step()
    except (ServerError, wrk_runner.WrkError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    results["elapsed_s"] = round(time.monotonic() - started)
    paths = decision_report.write(results, plan.out)
    print(f"report: {paths[0]}\nraw results: {paths[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
