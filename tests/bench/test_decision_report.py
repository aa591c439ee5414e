"""The decision report's arithmetic on made-up cells: goal ratios per pass, met or not, whether the passes agree,
and the sentences written from the data. (The run itself: tests/bench/test_decide_smoke.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import decision_report
from bench.decide import Plan

SYNC, GTHREAD, ASYNC = "gunicorn-sync", "gunicorn-gthread", "hypercorn-uvloop"


def sample(rps: float, cpu_us: float = 1000.0, p50: float = 10.0, p99: float = 20.0, **statuses: int) -> dict[str, Any]:
    return {
        "rps": rps,
        "cpu_us": cpu_us,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": int(rps * 5),
        "statuses": {"200": int(rps * 5), **{k.lstrip("s"): v for k, v in statuses.items()}},
        "socket_errors": 0,
        "rss_mib": 100.0,
    }


def cell(section: str, kind: str, samples: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    base = {"section": section, "kind": kind, "server": f"{kind}-w1", "workers": 1, "scenario": "latency", "ms": 0}
    return {**base, "concurrency": 16, "condition": "", "notes": [{} for _ in samples], "samples": samples, **fields}


def goal_cells(n: int, scale: float = 1.0) -> list[dict[str, Any]]:
    """One pass's cells: every goal met; ``scale`` multiplies the async side's req/s (a pass that disagrees)."""
    s = f"goals-{n}"
    three = lambda rps, **kw: [sample(rps, **kw)] * 3  # noqa: E731
    return [
        cell(s, SYNC, three(80), goal="latency", workers=1),
        cell(s, ASYNC, three(1200 * scale), goal="latency", workers=1),
        cell(s, SYNC, three(160), goal="latency", workers=2),
        cell(s, ASYNC, three(1700 * scale), goal="latency", workers=2),
        cell(s, GTHREAD, three(250), goal="slow"),
        cell(s, ASYNC, three(700, p50=100, p99=250), goal="slow"),
        cell(s, ASYNC, three(1000, p50=900, p99=1500), goal="every"),
        cell(s, ASYNC, three(1400), goal="stalled", stalled=0),
        cell(s, ASYNC, three(1300), goal="stalled", stalled=500),
        cell(s, SYNC, three(1500, cpu_us=600), goal="cpu"),
        cell(s, ASYNC, three(1500, cpu_us=650), goal="cpu"),
    ]


def results(cells: list[dict[str, Any]]) -> dict[str, Any]:
    plan = Plan()
    return {
        "command": "python -m bench decide",
        "machine": "test",
        "started_at": "now",
        "elapsed_s": 60,
        "plan": {"rounds": plan.rounds, "duration": plan.duration, "warmup": plan.warmup, "async_pool": 60}
        | {"goal_levels": list(plan.goal_levels), "goal_stalled": plan.goal_stalled, "levels": list(plan.levels)},
        "cells": cells,
    }


def test_goals_met_in_both_passes_that_agree() -> None:
    rows = decision_report.evaluate(results(goal_cells(1) + goal_cells(2)))

    by_goal = {row["goal"]: row for row in rows}
    assert len(rows) == 9
    latency = next(row for name, row in by_goal.items() if "1 worker:" in name)
    assert latency["values"] == [15.0, 15.0]
    assert latency["met"]
    assert latency["reproduces"]
    assert all(row["met"] for row in rows), [row for row in rows if not row["met"]]


def test_a_goal_missed_in_one_pass_is_not_met_and_a_drift_over_ten_percent_does_not_reproduce() -> None:
    rows = decision_report.evaluate(results(goal_cells(1) + goal_cells(2, scale=0.75)))

    one_worker = next(row for row in rows if "1 worker:" in row["goal"])
    assert one_worker["values"] == [15.0, 11.25]
    assert one_worker["met"] is True  # both passes >= 10
    assert one_worker["reproduces"] is False  # 15 / 11.25 = 1.33
    two_workers = next(row for row in rows if "2 workers:" in row["goal"])
    assert two_workers["met"] is False  # 1700 * 0.75 / 160 = 7.97
    assert rows[-1]["met"] is False


def test_failed_answers_and_tail_of_the_highest_level() -> None:
    cells = goal_cells(1)
    every = next(c for c in cells if c.get("goal") == "every")
    every["samples"] = [sample(1000, p50=100, p99=400, s500=2)] * 3

    rows = {row["goal"]: row for row in decision_report.evaluate(results(cells))}

    failed = next(row for name, row in rows.items() if "neither 2xx nor 503" in name)
    tail = next(row for name, row in rows.items() if "p99 ÷ p50 (all 2xx)" in name)
    assert failed["values"][0] == 6
    assert failed["met"] is False
    assert tail["values"][0] == 4.0
    assert tail["met"] is False


def test_the_report_opens_with_the_goal_table_and_says_where_async_starts_to_win(tmp_path: Path) -> None:
    sweep = []
    for ms, sync_rps, gthread_rps, async_rps in ((1, 400, 900, 800), (20, 45, 600, 1100), (100, 9, 150, 580)):
        for kind, rps in ((SYNC, sync_rps), (GTHREAD, gthread_rps), (ASYNC, async_rps)):
            sweep.append(cell("sweep", kind, [sample(rps)] * 3, ms=ms, concurrency=64))
    data = results(goal_cells(1) + goal_cells(2) + sweep)

    markdown, raw = decision_report.write(data, tmp_path)

    text = markdown.read_text()
    assert raw.exists()
    assert text.index("## Goals") < text.index("## What the data says") < text.index("## The crossover sweep")
    assert "against Gunicorn gthread-16 async wins from 20 ms on (0.9x at 1 ms, 1.8x at 20 ms, 3.9x at 100 ms)" in text
    assert "against Gunicorn sync async wins from 1 ms on" in text
    assert "async service costs 8 % more CPU per request" in text


def test_the_scenarios_section_gets_a_table_and_a_line_of_ratios(tmp_path: Path) -> None:
    scenarios = []
    for scenario, ms, sync_rps, gthread_rps, async_rps in (
        ("point", 0, 1000, 900, 1100),
        ("latency", 10, 80, 800, 1600),
    ):
        for kind, rps, cpu in ((SYNC, sync_rps, 500.0), (GTHREAD, gthread_rps, 700.0), (ASYNC, async_rps, 550.0)):
            scenarios.append(cell("scenarios", kind, [sample(rps, cpu_us=cpu)] * 3, scenario=scenario, ms=ms))
    data = results(goal_cells(1) + goal_cells(2) + scenarios)

    text = decision_report.write(data, tmp_path)[0].read_text()

    assert (
        "The scenarios of `bench compare` at c = 16, one worker each — async req/s ÷ Gunicorn sync / ÷ gthread-16 "
        "(async CPU per request ÷ sync's): point 1.1x / 1.2x (CPU 1.10x); latency 20.0x / 2.0x (CPU 1.10x)."
    ) in text
    table = text[text.index("## The scenarios of `bench compare`, at c = 16") :]
    assert "| latency 10 ms | Hypercorn x1 | 1,600.0 |" in table
    assert "| point | Gunicorn sync x1 | 1,000.0 |" in table


def test_a_later_run_replaces_the_sections_it_measured_again() -> None:
    first = results(goal_cells(1) + goal_cells(2) + [cell("sweep", ASYNC, [sample(900)] * 3, ms=5, concurrency=64)])
    second = results(goal_cells(1, scale=2.0) + goal_cells(2, scale=2.0))
    second["started_at"] = "later"

    merged = decision_report.merge([first, second])

    assert {c["section"] for c in merged["cells"]} == {"goals-1", "goals-2", "sweep"}
    assert len(merged["cells"]) == len(second["cells"]) + 1
    one_worker = next(row for row in decision_report.evaluate(merged) if "1 worker:" in row["goal"])
    assert one_worker["values"] == [30.0, 30.0]  # the second run's goal cells, not the first's
    assert len(merged["runs"]) == 2
