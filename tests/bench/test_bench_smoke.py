"""``python -m bench inserts`` end to end on a tiny batch: every method runs and lands in the JSON.

No timing is asserted here (the figures belong to the README's full run); only that each method ran, wrote its
rows (the benchmark checks the row count after every run) and has a positive time, and that the scratch database
is gone afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.inserts import BASELINE, SERVICE_PATH, methods

ROOT = Path(__file__).resolve().parents[2]


def _bench_databases(server_url: str) -> set[str]:
    conninfo = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'bench_inserts_%'").fetchall()
    return {str(row[0]) for row in rows}


def test_inserts_benchmark_runs_every_method(server_url: str, tmp_path: Path) -> None:
    before = _bench_databases(server_url)
    out = tmp_path / "bench-inserts"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench", "inserts", "--rows", "200", "--rounds", "1"]
    command += ["--out", str(out), "--database-url", server_url]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]

    doc = json.loads(out.with_suffix(".json").read_text())
    expected = {(m.stack, m.name) for m in methods()}
    got = {(e["stack"], e["method"]) for e in doc["results"]}
    assert got == expected
    for entry in doc["results"]:
        assert entry["median_s"] > 0, entry
        assert entry["rounds"] == 1
        assert entry["ratio_to_raw_asyncpg_copy"] > 0
    assert {e["method"] for e in doc["results"]} >= {BASELINE, SERVICE_PATH}
    assert doc["meta"]["rows"] == 200
    assert isinstance(doc["goal"]["holds"], bool)
    assert "| method | stack | median s |" in done.stdout
    assert "Goal:" in done.stdout
    assert "insertmanyvalues" in done.stdout
    assert out.with_suffix(".png").exists() or "matplotlib is not installed" in done.stdout
    assert _bench_databases(server_url) == before  # the scratch database was dropped
