"""``python -m bench decide --quick`` end to end: every section runs against real servers, wrk and held
connections, and writes the report and its raw results; the scratch database is dropped. It checks the plumbing
and what must hold whatever the timings (the async server answers while clients stall; nothing is left behind),
never the timings themselves: those are what the benchmark reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.wrk import WrkError, wrk_binary
from tests.bench.test_ab_smoke import _scratch_databases
from tests.support.ci import missing

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quick_decide_run_writes_every_section(server_url: str, tmp_path: Path) -> None:
    try:
        wrk_binary()
    except WrkError as exc:
        missing(str(exc))
    before = _scratch_databases(server_url)
    command = [sys.executable, "-m", "bench", "decide", "--quick", f"--out={tmp_path}", f"--database-url={server_url}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads((tmp_path / "decision.json").read_text())
    sections = {cell["section"] for cell in results["cells"]}
    assert sections == {"goals-1", "sweep", "scenarios", "slow", "memory"}
    for cell in results["cells"]:
        assert len(cell["samples"]) == 3, cell["section"]
        assert all(s["requests"] > 0 for s in cell["samples"] if cell["section"] != "slow"), cell
    # Every scenario of bench compare on every server, inserts and reservations included, all answered 2xx
    # (each burst inserts under its own prefix: a repeated email would be a 409).
    scenario_cells = [c for c in results["cells"] if c["section"] == "scenarios"]
    assert {(c["scenario"], c["kind"]) for c in scenario_cells} == {
        (scenario, kind)
        for scenario in ("point", "page", "latency", "write", "reserve")
        for kind in ("gunicorn-sync", "gunicorn-gthread", "hypercorn-uvloop")
    }
    for cell in (c for c in scenario_cells if c["scenario"] != "reserve"):
        assert all(set(s["statuses"]) <= {"200", "201"} for s in cell["samples"]), cell
    # The async server keeps answering while clients stall mid-headers, and every stalled connection was opened.
    slow = [c for c in results["cells"] if c["section"] == "slow" and c["kind"] == "hypercorn-uvloop"]
    stalled = next(c for c in slow if c["stalled"] > 0)
    assert all(n["opened"] == stalled["stalled"] for n in stalled["notes"]), stalled["notes"]
    assert all(n["probe"]["status"] == 200 for n in stalled["notes"]), stalled["notes"]
    assert all(s["requests"] > 0 for s in stalled["samples"])
    # Idle keep-alive connections stay open on the async server.
    idle = next(
        c for c in results["cells"] if c["section"] == "memory" and c["kind"] == "hypercorn-uvloop" and c["idle"]
    )
    assert all(n["still_open"] == idle["idle"] for n in idle["notes"]), idle["notes"]

    report = (tmp_path / "decision.md").read_text()
    assert report.startswith("# Async service or Flask twin")
    assert report.index("## Goals") < report.index("## What the data says") < report.index("## The crossover sweep")
    assert report.index("## The crossover sweep") < report.index("## The scenarios of `bench compare`, at c = 16")
    assert (tmp_path / "decision-sweep.png").stat().st_size > 1000
    assert _scratch_databases(server_url) == before
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if "bench.held" in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
