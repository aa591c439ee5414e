"""The interleaved A/B benchmark end to end, tiny: the "ping" preset, three 1-second rounds on a few users.

It checks the plumbing — both servers start against one scratch database, wrk runs, server CPU is measured, the
Markdown table names both variants with positive figures and the ratio columns, the scratch database is dropped —
never the timings: those are what the benchmark prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.wrk import WrkError, wrk_binary
from tests.support.ci import missing

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _scratch_databases(server_url: str) -> set[str]:
    conninfo = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(r"SELECT datname FROM pg_database WHERE datname ~ '^bench_[0-9]{8}_'").fetchall()
    return {str(row[0]) for row in rows}


def test_ping_preset_prints_a_table_of_both_variants(server_url: str) -> None:
    try:
        wrk_binary()  # the same lookup the benchmark does
    except WrkError as exc:
        missing(str(exc))
    before = _scratch_databases(server_url)
    command = [sys.executable, "-m", "bench", "ab", "--preset=ping", "--rounds=3", "--duration=1"]
    command += ["--warmup=1", "--concurrency=4", "--users=200", f"--database-url={server_url}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-4000:]

    lines = done.stdout.splitlines()
    assert lines[0].startswith("**ab ping**"), lines[0]
    assert "nproc" in lines[0], lines[0]
    header = next(line for line in lines if line.startswith("| variant"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert {"req/s ÷ A", "CPU/req ÷ A"} <= set(columns), columns
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith(("| A:", "| B:"))}
    assert sorted(rows) == [
        "A: ping every checkout `DB_POOL_PING_WINDOW=0`",
        "B: ping window 0.5 s `DB_POOL_PING_WINDOW=0.5`",
    ]
    for name, line in rows.items():
        cells = dict(zip(columns, (cell.strip() for cell in line.strip().strip("|").split("|")), strict=True))
        for column in ("req/s median", "CPU µs/req median", "p50 ms", "p99 ms", "req/s ÷ A", "CPU/req ÷ A"):
            assert float(cells[column]) > 0, (name, column, cells[column])
    assert "Failed answers" not in done.stdout, done.stdout
    assert done.stderr.count("round ") == 6, done.stderr[-2000:]  # 3 rounds x 2 variants
    assert _scratch_databases(server_url) == before  # the scratch database was dropped
