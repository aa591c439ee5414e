"""The report of ``python -m bench decide``: the goal table on top (both passes), what the data says in a few lines,
then one table per section with medians and min-max over the rounds, and the crossover charts.

``python -m bench decision_report RESULTS.json [MORE.json ...] [--out DIR]`` renders a report again from raw
results: of several runs, the later runs' sections replace the earlier ones'.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.interleave import median

Cell = dict[str, Any]
NAMES = {"gunicorn-sync": "Gunicorn sync", "gunicorn-gthread": "Gunicorn gthread-16", "hypercorn-uvloop": "Hypercorn"}
REPRODUCE = 0.10  # every goal ratio within ±10 % between the two passes


@dataclass(frozen=True)
class Stats:
    """One cell's figures over its rounds."""

    rps: float
    rps_min: float
    rps_max: float
    cpu_us: float
    cpu_min: float
    cpu_max: float
    p50: float
    p99: float
    rss_mib: float
    requests: int
    statuses: dict[str, int]
    socket_errors: int

    @property
    def tail(self) -> float:
        """p99 over p50 (the medians over the rounds)."""
        return self.p99 / self.p50 if self.p50 else float("nan")

    @property
    def failed(self) -> int:
        """Answers that are neither 2xx nor a deliberate 503, plus socket errors."""
        bad = sum(n for s, n in self.statuses.items() if not s.startswith("2") and s != "503")
        return bad + self.socket_errors


def stats(cell: Cell) -> Stats:
    samples = cell["samples"]

    def values(key: str) -> list[float]:
        return [float(s[key]) for s in samples]

    statuses: dict[str, int] = {}
    for sample in samples:
        for status, n in sample["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    rps, cpu = values("rps"), [v for v in values("cpu_us") if v == v]
    return Stats(
        rps=median(rps),
        rps_min=min(rps),
        rps_max=max(rps),
        cpu_us=median(cpu),
        cpu_min=min(cpu, default=float("nan")),
        cpu_max=max(cpu, default=float("nan")),
        p50=median(values("p50_ms")),
        p99=median(values("p99_ms")),
        rss_mib=max(values("rss_mib")),
        requests=sum(int(s["requests"]) for s in samples),
        statuses=statuses,
        socket_errors=sum(int(s["socket_errors"]) for s in samples),
    )


def find(cells: Iterable[Cell], **match: Any) -> Cell | None:
    for cell in cells:
        if all(cell.get(key) == value for key, value in match.items()):
            return cell
    return None


# -- goals ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """One line of the goal table: how to compute it from one pass's cells, and the target."""

    name: str
    target: str
    compute: Callable[[list[Cell]], float | None]
    meets: Callable[[float], bool]
    is_ratio: bool = True


def _ratio(numerator: Cell | None, denominator: Cell | None, key: str = "rps") -> float | None:
    if numerator is None or denominator is None:
        return None
    top, bottom = getattr(stats(numerator), key), getattr(stats(denominator), key)
    return top / bottom if bottom else None


def _by(cells: list[Cell], goal: str, kind: str, **match: Any) -> Cell | None:
    return find(cells, goal=goal, kind=kind, **match)


def goals_for(plan: dict[str, Any]) -> list[Goal]:
    latency_c, slow_c, every_c = plan["goal_levels"]
    stalled = plan["goal_stalled"]
    sync, gthread, hyper = "gunicorn-sync", "gunicorn-gthread", "hypercorn-uvloop"

    def every(key: str) -> Callable[[list[Cell]], float | None]:
        def compute(cells: list[Cell]) -> float | None:
            cell = _by(cells, "every", hyper)
            return None if cell is None else float(getattr(stats(cell), key))

        return compute

    def latency_goal(workers: int) -> Goal:
        return Goal(
            f"10 ms latency, c = {latency_c}, {workers} worker{'s' * (workers > 1)}: async ÷ Gunicorn sync req/s",
            "≥ 10",
            lambda cells: _ratio(
                _by(cells, "latency", hyper, workers=workers), _by(cells, "latency", sync, workers=workers)
            ),
            lambda v: v >= 10,
        )

    return [
        latency_goal(1),
        latency_goal(2),
        Goal(
            f"50 ms, c = {slow_c}: async ÷ gthread-16 req/s",
            "≥ 2.5",
            lambda cells: _ratio(_by(cells, "slow", hyper), _by(cells, "slow", gthread)),
            lambda v: v >= 2.5,
        ),
        Goal(
            f"50 ms, c = {slow_c}: async p99 ÷ p50",
            "≤ 3",
            lambda cells: (lambda c: None if c is None else stats(c).tail)(_by(cells, "slow", hyper)),
            lambda v: v <= 3,
        ),
        Goal(
            f"50 ms, c = {every_c}: async answers that are neither 2xx nor 503, and socket errors",
            "0",
            every("failed"),
            lambda v: v == 0,
            is_ratio=False,
        ),
        Goal(f"50 ms, c = {every_c}: async p99 ÷ p50 (all 2xx)", "≤ 3", every("tail"), lambda v: v <= 3),
        Goal(
            f"point read with {stalled} stalled connections ÷ without: async req/s",
            "≥ 0.8",
            lambda cells: _ratio(
                _by(cells, "stalled", hyper, stalled=stalled), _by(cells, "stalled", hyper, stalled=0)
            ),
            lambda v: v >= 0.8,
        ),
        Goal(
            "point read CPU per request: async ÷ Gunicorn sync",
            "≤ 1.15",
            lambda cells: _ratio(_by(cells, "cpu", hyper), _by(cells, "cpu", sync), key="cpu_us"),
            lambda v: v <= 1.15,
        ),
    ]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal's value in both passes, whether it is met in both, and whether its ratio reproduces."""
    cells = results.get("cells", [])
    passes = [[c for c in cells if c["section"] == f"goals-{n}"] for n in (1, 2)]
    rows = []
    for goal in goals_for(results["plan"]):
        values = [goal.compute(p) if p else None for p in passes]
        met = all(v is not None and goal.meets(v) for v in values)
        agree = None
        if goal.is_ratio and None not in values and values[1]:
            agree = abs(float(values[0]) / float(values[1]) - 1) <= REPRODUCE  # type: ignore[arg-type]
        rows.append({"goal": goal.name, "target": goal.target, "values": values, "met": met, "reproduces": agree})
    checked: list[bool] = [bool(r["reproduces"]) for r in rows if r["reproduces"] is not None]
    rows.append(
        {
            "goal": "every goal ratio agrees within ±10 % between the passes",
            "target": "all",
            "values": [sum(checked), len(checked)],
            "met": bool(checked)
            and all(checked)
            and len(checked) == sum(1 for g in goals_for(results["plan"]) if g.is_ratio),
            "reproduces": None,
        }
    )
    return rows


# -- summary -------------------------------------------------------------------------------------------------------


def crossover(cells: list[Cell], level: int) -> str:
    """Where async starts to win against each twin configuration at ``level``, from the sweep's one-worker cells."""
    sweep = [c for c in cells if c["section"] == "sweep" and c["workers"] == 1 and c["concurrency"] == level]
    latencies = sorted({c["ms"] for c in sweep})
    parts = []
    for kind in ("gunicorn-gthread", "gunicorn-sync"):
        ratios = []
        for ms in latencies:
            r = _ratio(find(sweep, kind="hypercorn-uvloop", ms=ms), find(sweep, kind=kind, ms=ms))
            if r is not None:
                ratios.append((ms, r))
        if not ratios:
            continue
        wins = [ms for ms, r in ratios if r >= 1.1]
        spread = ", ".join(f"{r:.1f}x at {ms} ms" for ms, r in ratios)
        start = f"from {wins[0]} ms on" if wins else "at no latency measured"
        parts.append(f"against {NAMES[kind]} async wins {start} ({spread})")
    return f"At c = {level}, " + "; ".join(parts) + "." if parts else ""


def scenario_line(cells: list[Cell]) -> str:
    """Each of bench compare's scenarios in a few numbers: async's req/s over each twin's, CPU per request over
    the sync worker's."""
    part = [c for c in cells if c["section"] == "scenarios"]
    if not part:
        return ""
    figures = []
    for scenario in dict.fromkeys(c["scenario"] for c in part):
        mine = find(part, kind="hypercorn-uvloop", scenario=scenario)
        sync, gthread = (
            find(part, kind="gunicorn-sync", scenario=scenario),
            find(part, kind="gunicorn-gthread", scenario=scenario),
        )
        figures.append(
            f"{scenario} {_f(_ratio(mine, sync), 1)}x / {_f(_ratio(mine, gthread), 1)}x "
            f"(CPU {_f(_ratio(mine, sync, 'cpu_us'))}x)"
        )
    return (
        f"The scenarios of `bench compare` at c = {part[0]['concurrency']}, one worker each — async req/s ÷ "
        "Gunicorn sync / ÷ gthread-16 (async CPU per request ÷ sync's): " + "; ".join(figures) + "."
    )


def summary(results: dict[str, Any]) -> list[str]:
    """Sentences written from the data: where each stack wins and what each costs."""
    cells = results.get("cells", [])
    levels = results["plan"]["levels"]
    lines = [crossover(cells, level) for level in levels]
    lines = [line for line in (*lines, scenario_line(cells)) if line]
    found = [
        _ratio(_by(p, "cpu", "hypercorn-uvloop"), _by(p, "cpu", "gunicorn-sync"), "cpu_us") for p in _passes(cells)
    ]
    cpu = [c for c in found if c is not None]
    if cpu:
        cost = median(cpu)
        passes = ", ".join(f"{c:.2f}" for c in cpu)
        if abs(cost - 1) < 0.05:
            verdict = "about the same CPU per request as"
        else:
            verdict = f"{abs(cost - 1) * 100:.0f} % {'more' if cost > 1 else 'less'} CPU per request than"
        lines.append(
            "When every request is short and CPU-bound (the point read at c = 16), the async service costs "
            f"{verdict} the twin's sync worker (async ÷ sync, by pass: {passes})."
        )
    slow = [c for c in cells if c["section"] == "slow"]
    if slow:
        most = max(c.get("stalled", 0) for c in slow)
        parts = []
        for kind, name in NAMES.items():
            base, stalled = find(slow, kind=kind, stalled=0), find(slow, kind=kind, stalled=most)
            if base and stalled:
                probes = [n.get("probe", {}).get("status") for n in stalled["notes"]]
                answered = sum(1 for p in probes if p == 200)
                parts.append(
                    f"{name} {stats(stalled).rps / stats(base).rps * 100:.0f} % of its req/s, "
                    f"{answered}/{len(probes)} probes answered"
                )
        lines.append(f"With {most} connections stalled mid-headers: " + "; ".join(parts) + ".")
    mem = [c for c in cells if c["section"] == "memory"]
    if mem:
        idle = max(c.get("idle", 0) for c in mem)
        parts = []
        for kind, name in NAMES.items():
            base, held = find(mem, kind=kind, idle=0), find(mem, kind=kind, idle=idle)
            if base and held:
                opened = median([n.get("still_open", 0) for n in held["notes"]])
                parts.append(
                    f"{name} {stats(held).rss_mib:.0f} MiB (+{stats(held).rss_mib - stats(base).rss_mib:.0f}), "
                    f"{stats(held).rps / stats(base).rps * 100:.0f} % of its req/s, {opened:.0f} of {idle} kept open"
                )
        lines.append(f"With {idle} idle keep-alive connections: " + "; ".join(parts) + ".")
    return lines


def _passes(cells: list[Cell]) -> list[list[Cell]]:
    return [p for p in ([c for c in cells if c["section"] == f"goals-{n}"] for n in (1, 2)) if p]


# -- rendering -----------------------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:,.{digits}f}"


def _statuses(s: Stats) -> str:
    other = {k: v for k, v in sorted(s.statuses.items()) if not k.startswith("2")}
    parts = [f"{k}: {v}" for k, v in other.items()]
    if s.socket_errors:
        parts.append(f"socket errors: {s.socket_errors}")
    return ", ".join(parts) or "-"


def table(cells: Sequence[Cell], columns: Sequence[tuple[str, Callable[[Cell], str]]]) -> list[str]:
    head = [name for name, _ in columns] + [
        "req/s median", "req/s min-max", "CPU µs/req median", "CPU µs/req min-max", "p50 ms", "p99 ms",
        "p99 ÷ p50", "peak RSS MiB", "not 2xx",
    ]  # fmt: skip
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(columns) + "--:|" * 9]
    for cell in cells:
        s = stats(cell)
        rows.append(
            "| "
            + " | ".join(
                [render(cell) for _, render in columns]
                + [
                    _f(s.rps, 1),
                    f"{_f(s.rps_min, 1)}-{_f(s.rps_max, 1)}",
                    _f(s.cpu_us, 0),
                    f"{_f(s.cpu_min, 0)}-{_f(s.cpu_max, 0)}",
                    _f(s.p50),
                    _f(s.p99),
                    _f(s.tail),
                    _f(s.rss_mib, 0),
                    _statuses(s),
                ]
            )
            + " |"
        )
    return rows


def _server(cell: Cell) -> str:
    return f"{NAMES.get(cell['kind'], cell['kind'])} x{cell['workers']}"


def render(results: dict[str, Any], charts: dict[str, str]) -> str:
    plan = results["plan"]
    cells = results.get("cells", [])
    goals = evaluate(results)
    lines = [
        "# Async service or Flask twin: the decision run",
        "",
        f"`{results['command']}` — {results['machine']}; "
        + ("" if "runs" in results else f"started {results['started_at']}, ")
        + f"{results.get('elapsed_s', 0) // 60} min. Every cell: the servers side by side, {plan['rounds']} "
        f"alternating rounds of {plan['duration']:g} s bursts of wrk"
        + (f" ({plan['tail_duration']:g} s in the goal cells at c ≥ 256)" if "tail_duration" in plan else "")
        + f" after a {plan['warmup']:g} s warm-up; "
        "medians over the rounds, min-max beside them; CPU per request is the server's process-tree CPU over its "
        "completed requests; peak RSS is the server's process tree during the bursts. Each Hypercorn worker is "
        "one process of the service's entry point (`python -m service.quart_app.serve`: uvloop, accepting a burst "
        "of connections at once), with access logs off, as are Gunicorn's. Pools: sync 1 connection per worker, "
        f"gthread 16, async {plan['async_pool']} per server, no overflow. Loopback only.",
        "",
        "## Goals (two independent passes: the first and the last step of the run)",
        "",
        "| goal | target | pass 1 | pass 2 | passes agree (±10 %) | met |",
        "|---|---|--:|--:|---|---|",
    ]
    for row in goals:
        v1, v2 = row["values"]
        values = (f"{v1} of {v2} agree", "") if row["target"] == "all" else (_f(v1), _f(v2))
        agree = {True: "yes", False: "**no**", None: ""}[row["reproduces"]]
        lines.append(
            f"| {row['goal']} | {row['target']} | {values[0]} | {values[1]} | {agree} | "
            f"{'met' if row['met'] else '**not met**'} |"
        )
    lines += ["", "## What the data says", "", *(f"- {line}" for line in summary(results)), ""]

    for n in (1, 2):
        part = [c for c in cells if c["section"] == f"goals-{n}"]
        if part:
            lines += [f"### Goal cells, pass {n}", ""]
            lines += table(
                part,
                [
                    (
                        "cell",
                        lambda c: f"{c['scenario']} {c['ms'] or ''} c={c['concurrency']} {c['condition']}".replace(
                            "  ", " "
                        ),
                    ),
                    ("server", _server),
                ],
            )
            lines.append("")
    sweep = [c for c in cells if c["section"] == "sweep"]
    if sweep:
        lines += [
            "## The crossover sweep (`GET /bench/latency?ms=`)",
            "",
            "The async server's pool queue is unbounded here (`DB_POOL_MAX_WAITERS=0`): every request waits its turn. "
            "A p99 close to the burst's length means requests that waited through the whole burst (wrk counts only "
            "answered requests: a server whose queue is longer than a burst looks faster than it is).",
            "",
        ]
        if "sweep" in charts:
            lines += [f"![req/s and p99 against database latency]({charts['sweep']})", ""]
        lines += table(
            sweep, [("ms", lambda c: str(c["ms"])), ("c", lambda c: str(c["concurrency"])), ("server", _server)]
        )
        lines.append("")
    scenario_cells = [c for c in cells if c["section"] == "scenarios"]
    if scenario_cells:
        lines += [
            f"## The scenarios of `bench compare`, at c = {scenario_cells[0]['concurrency']}, one worker each",
            "",
            "Point read, list page, latency-bound read, insert, and the contended reservation (optimistic lock on "
            "four hot rows: a 409 is a reservation that lost every retry), interleaved like every other cell.",
            "",
        ]
        lines += table(
            scenario_cells,
            [("scenario", lambda c: c["scenario"] + (f" {c['ms']} ms" if c["ms"] else "")), ("server", _server)],
        )
        lines.append("")
    for section, title, extra in (
        ("slow", "Slow clients: the point read at c = 16 while other connections stall mid-headers", "stalled"),
        ("memory", "Connections and memory: idle keep-alive connections under a light load (c = 4)", "idle"),
    ):
        part = [c for c in cells if c["section"] == section]
        if not part:
            continue
        lines += [f"## {title}", ""]

        def held(cell: Cell, key: str = extra) -> str:
            notes = cell["notes"]
            still = [n.get("still_open") for n in notes if "still_open" in n]
            probes = [n["probe"] for n in notes if "probe" in n]
            text = str(cell.get(key, 0))
            if still:
                text += f" (open at the end: {min(still)}-{max(still)})"
            if probes:
                ok = sum(1 for p in probes if p["status"] == 200)
                slowest = max(p["seconds"] for p in probes)
                text += f"; probe answered {ok}/{len(probes)}, slowest {slowest:.2f} s"
            return text

        lines += table(part, [(extra, held), ("server", _server)])
        lines.append("")
    return "\n".join(lines)


def draw(results: dict[str, Any], directory: Path) -> dict[str, str]:
    """req/s and p99 against database latency: one line per server, one panel per concurrency level."""
    sweep = [c for c in results.get("cells", []) if c["section"] == "sweep" and c["workers"] == 1]
    if not sweep:
        return {}
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    levels = sorted({c["concurrency"] for c in sweep})
    figure, axes = plt.subplots(2, len(levels), figsize=(5 * len(levels), 8), squeeze=False)
    for column, level in enumerate(levels):
        for kind, name in NAMES.items():
            points = sorted((c["ms"], stats(c)) for c in sweep if c["kind"] == kind and c["concurrency"] == level)
            if not points:
                continue
            xs = [ms for ms, _ in points]
            axes[0][column].plot(xs, [s.rps for _, s in points], marker="o", label=name)
            axes[1][column].plot(xs, [s.p99 for _, s in points], marker="o", label=name)
        for row, label in ((0, "req/s (median)"), (1, "p99 ms (median)")):
            axis = axes[row][column]
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("database latency, ms")
            axis.set_ylabel(label)
            axis.set_title(f"c = {level}, one worker each")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend()
    figure.tight_layout()
    path = directory / "decision-sweep.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return {"sweep": path.name}


def write(results: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """``decision.md``, ``decision.json`` and the chart in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "decision.json"
    raw.write_text(json.dumps(results, indent=1))
    markdown = out / "decision.md"
    markdown.write_text(render(results, draw(results, out)) + "\n")
    return markdown, raw


def merge(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from several runs: a later run's sections replace the same sections of the earlier ones (the goal
    passes count as one section), so a section measured again with a changed method replaces the old figures."""

    def section(cell: Cell) -> str:
        return "goals" if cell["section"].startswith("goals-") else str(cell["section"])

    merged = dict(runs[-1])
    cells: list[Cell] = []
    for run in runs:
        replaced = {section(cell) for cell in run["cells"]}
        cells = [cell for cell in cells if section(cell) not in replaced] + list(run["cells"])
    merged["cells"] = cells
    if len(runs) > 1:
        merged["command"] = "; then ".join(f"{run['command']} ({run['started_at']})" for run in runs)
        merged["elapsed_s"] = sum(run.get("elapsed_s", 0) for run in runs)
        merged["runs"] = [{k: v for k, v in run.items() if k != "cells"} for run in runs]
    return merged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench decision_report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="raw results; later ones replace the same sections")
    parser.add_argument("--out", type=Path, help="default: the last results' directory")
    options = parser.parse_args(argv)
    results = merge([json.loads(path.read_text()) for path in options.results])
    markdown, _ = write(results, options.out or options.results[-1].parent)
    print(markdown, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
