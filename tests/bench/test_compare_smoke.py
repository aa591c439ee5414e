"""The load comparison end to end, tiny: ``compare --quick`` on a few users, one level, 1-second cells.

It checks the plumbing — servers start and stop, wrk runs, CPU is measured, the report is written with every cell
filled and no 5xx — never the timings: those are what the report is for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.wrk import WrkError, wrk_binary
from tests.support.ci import missing

ROOT = Path(__file__).resolve().parents[2]
# One chart per scenario (``report.draw_charts``): ``--quick`` runs them all and matplotlib is a dev dependency.
CHARTS = ["latency.png", "page.png", "point.png", "reserve.png", "write.png"]

pytestmark = pytest.mark.slow


def _require_wrk() -> None:
    """Skip on a developer machine without wrk; in CI fail, so the smoke test cannot pass by never running."""
    try:
        wrk_binary()  # the same lookup the comparison itself does
    except WrkError as exc:
        missing(str(exc))


def _scratch_databases(server_url: str) -> set[str]:
    conninfo = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(r"SELECT datname FROM pg_database WHERE datname ~ '^bench_[0-9]{8}_'").fetchall()
    return {str(row[0]) for row in rows}


def test_quick_compare_writes_a_complete_report(server_url: str, tmp_path: Path) -> None:
    _require_wrk()
    before = _scratch_databases(server_url)
    out = tmp_path / "report"
    command = [
        sys.executable,
        "-m",
        "bench.compare",
        "--quick",
        "--configs=gunicorn-gthread,hypercorn-asyncio,limit",
        "--churn-configs=hypercorn-asyncio",
        "--churn-pool-size=1",
        "--workers=1",
        "--levels=4",
        "--duration=1",
        "--warmup=0",
        "--users=200",
        f"--database-url={server_url}",
        f"--out={out}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads((out / "results.json").read_text())
    cells = results["cells"]
    # 2 app servers x 5 scenarios + the limit's point read + the churn variant's point read.
    assert len(cells) == 12
    for cell in cells:
        where = f"{cell['config']} {cell['variant']} {cell['scenario']}"
        assert "error" not in cell, (where, cell.get("error"))
        assert cell["requests"] > 0, where
        assert cell["rps"] > 0, where
        assert set(cell["latency_ms"]) >= {"p50", "p90", "p99"}, where
        assert set(cell["cpu_s"]) == {"wrk", "server", "postgres"}, where
        assert cell["cpu_s"]["server"] > 0, where
        assert not [status for status in cell["statuses"] if status.startswith("5")], (where, cell["statuses"])
    assert {cell["variant"] for cell in cells} == {"default", "churn"}
    assert _scratch_databases(server_url) == before  # the scratch database was dropped

    report = (out / "report.md").read_text()
    for heading in ("## Machine", "## Goals", "## Ratios async / sync", "## Point read", "## Overflow churn"):
        assert heading in report
    assert "FAILED" not in report
    assert sorted(results["settings"]["scenarios"]) == [name.removesuffix(".png") for name in CHARTS]
    # Every chart is drawn and linked from the report (no "matplotlib is not installed" fallback).
    assert sorted(path.name for path in (out / "charts").glob("*.png")) == CHARTS
    for name in CHARTS:
        assert f"](charts/{name})" in report, name
