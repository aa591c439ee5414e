"""The comparison's report: ``report.md`` (tables, ratios, goals), ``charts/*.png`` and ``results.json``.

``python -m bench report RESULTS.json [--out DIR]`` renders the report again from saved raw results.
matplotlib is imported only to draw the charts; without it the report is written with a note instead.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

SCENARIO_TITLES = {
    "point": "Point read — `GET /users/{id}`",
    "page": "Page read — `GET /users?page=&per_page=20`",
    "latency": "Database-latency-bound read — `GET /bench/latency?ms=10` (`SELECT pg_sleep(0.01)`)",
    "write": "Write — `POST /users` (a unique email per request)",
    "reserve": "Contended write — `POST /products/{id}/reserve` on 4 hot products",
}
ASYNC_KINDS = ("hypercorn-asyncio", "hypercorn-uvloop")
SYNC_KINDS = ("gunicorn-sync", "gunicorn-gthread")
LIBRARIES = (
    "quart",
    "hypercorn",
    "uvloop",
    "flask",
    "flask-sqlalchemy",
    "gunicorn",
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "pydantic",
    "quart-schema",
    "prometheus-client",
)


@dataclass(frozen=True)
class Goal:
    """``rps(async) / rps(baseline) >= target`` for ``scenario`` at ``concurrency``, equal worker counts."""

    scenario: str
    concurrency: int
    baseline: str  # a kind, or "gunicorn-gthread16" (the kind with its thread count)
    target: float

    @property
    def text(self) -> str:
        return f"{self.scenario} read, c={self.concurrency}: async ≥ {self.target:g}x {self.baseline}"


GOALS = (
    Goal("latency", 64, "gunicorn-sync", 10.0),
    Goal("latency", 64, "gunicorn-gthread16", 1.5),
    Goal("point", 16, "gunicorn-sync", 1.3),
    Goal("point", 16, "limit", 0.7),
)


@dataclass(frozen=True)
class Paths:
    markdown: Path
    json: Path
    charts: tuple[Path, ...]


# -- the machine ----------------------------------------------------------------------------------------------


def machine_info(database_url: str) -> dict[str, Any]:
    """What the numbers depend on: cores, memory, CPU model, kernel, PostgreSQL, Python, libraries, wrk."""
    from bench._db import server_version

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        wrk = "not found"
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        postgres = server_version(database_url)
    except Exception as exc:  # the report still describes the rest of the machine
        postgres = f"unknown ({type(exc).__name__})"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgres,
        "wrk": wrk.strip(),
        "libraries": versions,
    }


# -- lookups --------------------------------------------------------------------------------------------------


def server_errors(cell: dict[str, Any]) -> int:
    """How many 5xx answers a cell got."""
    return sum(n for status, n in cell.get("statuses", {}).items() if status.startswith("5"))


def _ok(cell: dict[str, Any] | None) -> bool:
    return cell is not None and "error" not in cell and cell.get("requests", 0) > 0


def _matches(cell: dict[str, Any], kind: str) -> bool:
    if kind == "gunicorn-gthread16":
        return bool(cell["kind"] == "gunicorn-gthread" and cell["threads"] == 16)
    return bool(cell["kind"] == kind)


def find(
    cells: Iterable[dict[str, Any]], kind: str, workers: int, scenario: str, concurrency: int, variant: str = "default"
) -> dict[str, Any] | None:
    """The cell of ``kind`` with ``workers`` for ``scenario`` at ``concurrency`` (of ``variant``), if run."""
    for cell in cells:
        if (
            _matches(cell, kind)
            and cell["workers"] == workers
            and cell["scenario"] == scenario
            and cell["concurrency"] == concurrency
            and cell["variant"] == variant
        ):
            return cell
    return None


def ratio(
    cells: Sequence[dict[str, Any]], kind: str, baseline: str, workers: int, scenario: str, c: int
) -> float | None:
    """rps(kind) / rps(baseline) for the same scenario, level and worker count; ``None`` if either is missing."""
    mine, theirs = find(cells, kind, workers, scenario, c), find(cells, baseline, workers, scenario, c)
    if not _ok(mine) or not _ok(theirs) or not theirs or not mine or theirs["rps"] <= 0:
        return None
    return float(mine["rps"]) / float(theirs["rps"])


def evaluate_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal for each async kind and worker count: the measured ratio and whether it meets the target."""
    cells = results["cells"]
    rows = []
    for goal in GOALS:
        for workers in results["settings"]["workers"]:
            for kind in ASYNC_KINDS:
                value = ratio(cells, kind, goal.baseline, workers, goal.scenario, goal.concurrency)
                rows.append(
                    {
                        "goal": goal.text,
                        "async": f"{kind}-w{workers}",
                        "ratio": None if value is None else round(value, 2),
                        "target": goal.target,
                        "met": None if value is None else value >= goal.target,
                    }
                )
    return rows


# -- Markdown ------------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _statuses(cell: dict[str, Any]) -> str:
    parts = [f"{status}: {n}" for status, n in sorted(cell["statuses"].items()) if not status.startswith("2")]
    conflicts = cell.get("conflicts") or {}
    if conflicts:
        parts.append("409 = " + ", ".join(f"{k} {v}" for k, v in sorted(conflicts.items())))
    return "; ".join(parts) or "0"


def _socket_errors(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(cell["socket_errors"].items()) if k != "status") or "0"


def _levels(cells: Sequence[dict[str, Any]], scenario: str, variant: str = "default") -> list[int]:
    return sorted({c["concurrency"] for c in cells if c["scenario"] == scenario and c["variant"] == variant})


def _configs(cells: Sequence[dict[str, Any]], scenario: str, variant: str = "default") -> list[str]:
    seen: dict[str, None] = {}
    for cell in cells:
        if cell["scenario"] == scenario and cell["variant"] == variant:
            seen.setdefault(cell["config"], None)
    return list(seen)


def _machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    libraries = ", ".join(f"{k} {v}" for k, v in m["libraries"].items())
    return [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| date | {m['date']} |",
        f"| CPU | {m['cpu_model']}, {m['cores']} cores (`nproc`) |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| PostgreSQL | {m['postgresql']} (same machine, loopback, shared with other users) |",
        f"| Python | {m['python']} |",
        f"| libraries | {libraries} |",
        f"| load generator | {m['wrk']} |",
        "",
    ]


def _method_section(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    pools = ", ".join(f"{p['size']}+{p['overflow']} with {w} worker(s)" for w, p in s["pool"].items())
    churns = ", ".join(f"{p['size']}+{p['overflow']} with {w} worker(s)" for w, p in s["churn_pool"].items())
    return [
        "## Method",
        "",
        f"- Command: `{results['command']}` ({results['mode']} mode, {results.get('elapsed_s', 0) / 60:.1f} min).",
        f"- A scratch database migrated with `alembic upgrade head`, seeded with {s['seeded_users']} users through "
        f"{s['seeded_with']}, plus {len(s['dataset']['hot_products'])} hot products with a stock no run can exhaust; "
        "writes are deleted and the tables vacuumed before every server, so every server sees the same data.",
        f"- Each server configuration is started as a real process (workers: {', '.join(map(str, s['workers']))}; "
        f"gthread with {s['gthread_threads']} threads per worker), warmed up for {s['warmup_s']} s per scenario at "
        f"the highest level, then measured at c = {', '.join(map(str, s['levels']))} for {s['duration_s']} s per "
        f"cell ({s['duration_c1_s']} s at c = 1) with wrk: connections = c, {s['wrk_threads']} threads. Several "
        "Hypercorn workers are single-process Hypercorns, each on its own `SO_REUSEPORT` socket "
        "(`bench.reuseport`): under Hypercorn's `--workers` they share one socket and one worker takes most "
        "keep-alive connections.",
        "- Pool (`DB_POOL_SIZE`+`DB_MAX_OVERFLOW`), identical for every process of every configuration with the "
        f"same worker count: {pools} — the highest level divided among the workers, no overflow. QueuePool opens "
        "connections lazily, so each process opens only as many as it serves at once (1 per sync worker, up to 16 "
        "per gthread-16 worker, its share of the connections per async worker) and no overflow connection is ever "
        f"opened and closed. The *overflow churn* variant uses {churns}.",
        f"- `METRICS_ENABLED={'true' if s['metrics_enabled'] else 'false'}` (with several workers, "
        "`PROMETHEUS_MULTIPROC_DIR` as in a deployment), `BENCH_ENDPOINTS=1`, access logs off on both sides.",
        "- CPU columns: percent of one core over the cell (the machine has "
        f"{results['machine']['cores']} cores, so {100 * (results['machine']['cores'] or 1)} % is everything): "
        "wrk (its own rusage), the server's process tree, and every PostgreSQL process (background included).",
        "- Non-2xx answers are counted by status; on `/reserve` the 409s are split into `conflict` (lost every "
        "optimistic-lock retry) and `insufficient_stock`. Socket errors are wrk's connect/read/write/timeout.",
        "",
    ]


def _goals_section(results: dict[str, Any]) -> list[str]:
    rows = evaluate_goals(results)
    lines = ["## Goals", "", "| goal | async server | measured | target | verdict |", "|---|---|---:|---:|---|"]
    for row in rows:
        verdict = "not measured" if row["met"] is None else ("met" if row["met"] else "**NOT met**")
        ratio_text = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        lines.append(f"| {row['goal']} | {row['async']} | {ratio_text} | {row['target']:g}x | {verdict} |")
    missed = [row for row in rows if row["met"] is False]
    unmeasured = [row for row in rows if row["met"] is None]
    lines.append("")
    if missed:
        lines.append(
            f"**{len(missed)} of {len(rows)} goal checks are not met in this run.** "
            "See *Profiling notes* below for where the time goes and what would close the gap."
        )
    elif unmeasured:
        lines.append(f"{len(unmeasured)} goal checks could not be measured with this run's configurations.")
    else:
        lines.append("Every goal check is met in this run.")
    lines.append("")
    return lines


def _ratio_section(results: dict[str, Any]) -> list[str]:
    cells = results["cells"]
    threads = results["settings"]["gthread_threads"]
    lines = [
        "## Ratios async / sync (requests/s, equal worker counts)",
        "",
        "Above 1: the async server served more requests per second than the sync one, same scenario, level and "
        "worker count.",
        "",
    ]
    pairs = [(a, b) for a in ASYNC_KINDS for b in SYNC_KINDS]
    header = "| scenario | c | workers | " + " | ".join(
        f"{a.split('-')[1]} / {b.split('-')[1]}{threads if b == 'gunicorn-gthread' else ''}" for a, b in pairs
    )
    header += " | asyncio / limit | uvloop / limit |"
    lines += [header, "|---|---:|---:|" + "---:|" * (len(pairs) + 2)]
    for scenario in results["settings"]["scenarios"]:
        for c in _levels(cells, scenario):
            for workers in results["settings"]["workers"]:
                values = [ratio(cells, a, b, workers, scenario, c) for a, b in pairs]
                values += [ratio(cells, a, "limit", workers, scenario, c) for a in ASYNC_KINDS]
                if all(v is None for v in values):
                    continue
                lines.append(f"| {scenario} | {c} | {workers} | " + " | ".join(_fmt(v) for v in values) + " |")
    lines.append("")
    return lines


def _scenario_section(results: dict[str, Any], scenario: str, chart: Path | None) -> list[str]:
    cells = [c for c in results["cells"] if c["scenario"] == scenario and c["variant"] == "default"]
    if not cells:
        return []
    lines = [f"## {SCENARIO_TITLES.get(scenario, scenario)}", ""]
    if chart is not None:
        lines += [f"![{scenario}: throughput and p99 vs concurrency](charts/{chart.name})", ""]
    lines += [
        "| server | c | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors | CPU % wrk / server / PostgreSQL |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name in _configs(cells, scenario):
        for cell in sorted((c for c in cells if c["config"] == name), key=lambda c: c["concurrency"]):
            if not _ok(cell):
                lines.append(f"| {name} | {cell['concurrency']} | FAILED: {cell.get('error', 'no requests')[:80]} |")
                continue
            lat, cpu = cell["latency_ms"], cell["cpu_pct"]
            lines.append(
                f"| {name} | {cell['concurrency']} | {cell['rps']:.1f} | {lat['p50']:.2f} | {lat['p90']:.2f} "
                f"| {lat['p99']:.2f} | {_statuses(cell)} | {_socket_errors(cell)} "
                f"| {cpu['wrk']:.0f} / {cpu['server']:.0f} / {cpu['postgres']:.0f} |"
            )
    lines.append("")
    return lines


def _churn_section(results: dict[str, Any]) -> list[str]:
    cells = results["cells"]
    churned = [c for c in cells if c["variant"] == "churn"]
    if not churned:
        return []
    lines = [
        "## Overflow churn: why the default pool has no overflow",
        "",
        "The point read again with a small pool and a large overflow: every connection beyond the pool is opened "
        "for a request and closed when it is returned to a full pool, so PostgreSQL forks a backend and "
        "authenticates it over and over.",
        "",
        "| server | c | default pool req/s | churn pool req/s | default / churn | p99 default / churn ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for cell in churned:
        default = next(
            (
                d
                for d in cells
                if d["variant"] == "default"
                and d["config"] == cell["config"]
                and d["scenario"] == cell["scenario"]
                and d["concurrency"] == cell["concurrency"]
            ),
            None,
        )
        if not _ok(cell) or not _ok(default) or default is None:
            lines.append(f"| {cell['config']} | {cell['concurrency']} | — | — | — | — |")
            continue
        factor = default["rps"] / cell["rps"] if cell["rps"] else None
        pools = (
            f"{default['pool']['size']}+{default['pool']['overflow']}",
            f"{cell['pool']['size']}+{cell['pool']['overflow']}",
        )
        lines.append(
            f"| {cell['config']} | {cell['concurrency']} | {default['rps']:.1f} ({pools[0]}) "
            f"| {cell['rps']:.1f} ({pools[1]}) "
            f"| {_fmt(factor)}x | {default['latency_ms']['p99']:.1f} / {cell['latency_ms']['p99']:.1f} |"
        )
    lines.append("")
    return lines


def render(results: dict[str, Any], charts: dict[str, Path], notes: str = "") -> str:
    """The Markdown report."""
    lines = [
        "# Load comparison: async (Quart + Hypercorn) vs sync (Flask + Gunicorn)",
        "",
        f"Run of {results['started_at']} to {results.get('finished_at', '?')}. Raw results: "
        "[`results.json`](results.json). Timing goals live here, never in test assertions.",
        "",
    ]
    lines += _machine_section(results)
    lines += _method_section(results)
    lines += _goals_section(results)
    lines += _ratio_section(results)
    for scenario in results["settings"]["scenarios"]:
        lines += _scenario_section(results, scenario, charts.get(scenario))
    lines += _churn_section(results)
    if not charts:
        lines += ["_Charts were not drawn: matplotlib is not installed (`pip install matplotlib`)._", ""]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


# -- charts ---------------------------------------------------------------------------------------------------


def draw_charts(results: dict[str, Any], directory: Path) -> dict[str, Path]:
    """One PNG per scenario: requests/s and p99 latency against concurrency, one line per server."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except ImportError:
        print("matplotlib is not installed: no charts", file=sys.stderr)
        return {}
    directory.mkdir(parents=True, exist_ok=True)
    charts = {}
    for scenario in results["settings"]["scenarios"]:
        cells = [c for c in results["cells"] if c["scenario"] == scenario and c["variant"] == "default" and _ok(c)]
        if not cells:
            continue
        figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        for name in _configs(cells, scenario):
            mine = sorted((c for c in cells if c["config"] == name), key=lambda c: c["concurrency"])
            xs = [c["concurrency"] for c in mine]
            style = "-" if mine[0]["async"] else "--"
            left.plot(xs, [c["rps"] for c in mine], style, marker="o", label=name)
            right.plot(xs, [c["latency_ms"]["p99"] for c in mine], style, marker="o", label=name)
        levels = _levels(cells, scenario)
        for axis, title in ((left, "requests/s"), (right, "p99 latency (ms, log)")):
            axis.set_xscale("log", base=2)
            axis.set_xticks(levels, [str(level) for level in levels])
            axis.set_xlabel("concurrency (connections)")
            axis.set_title(title)
            axis.grid(True, alpha=0.3)
        right.set_yscale("log")
        right.yaxis.set_major_formatter(ScalarFormatter())
        left.set_ylim(bottom=0)
        left.legend(fontsize=8)
        figure.suptitle(SCENARIO_TITLES.get(scenario, scenario).replace("`", ""))
        figure.tight_layout()
        path = directory / f"{scenario}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        charts[scenario] = path
    return charts


def write(results: dict[str, Any], out: Path, notes: str = "") -> Paths:
    """Write ``results.json``, ``charts/*.png`` and ``report.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    results = {**results, "goals": evaluate_goals(results)}
    json_path = out / "results.json"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    charts = draw_charts(results, out / "charts")
    markdown = out / "report.md"
    markdown.write_text(render(results, charts, notes))
    return Paths(markdown, json_path, tuple(charts.values()))


def main(argv: list[str]) -> int:
    """Render the report again from a saved ``results.json`` (optionally with a notes file appended)."""
    parser = argparse.ArgumentParser(prog="python -m bench report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, help="directory (default: the results file's own)")
    parser.add_argument("--notes", type=Path, help="a Markdown file appended to the report (e.g. profiling notes)")
    options = parser.parse_args(argv)
    results = json.loads(options.results.read_text())
    notes = options.notes.read_text() if options.notes else ""
    paths = write(results, options.out or options.results.parent, notes)
    print(paths.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
