"""``python -m bench cluster`` end to end, shortest run: the topology starts, both passes (3 replicas, then 1) are
measured through the front door, the reads are split between primary and standby as the routing says, and nothing
of the cluster is left running. The timings are the benchmark's to report, never checked here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from bench.wrk import WrkError, wrk_binary
from cluster.haproxy import haproxy_binary
from tests.support.ci import missing

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _cluster_processes() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in {"haproxy", "pgbouncer"}}


def test_one_round_measures_both_passes_and_leaves_nothing(tmp_path: Path) -> None:
    try:
        wrk_binary()
    except WrkError as exc:
        missing(str(exc))
    if haproxy_binary() is None:
        missing("haproxy is not installed (make system-deps installs it)")
    before = _cluster_processes()
    command = [
        sys.executable, "-m", "bench", "cluster", "--rounds", "1", "--duration", "1", "--warmup", "0",
        "--users", "200", "--scenarios", "point,write", f"--out={tmp_path}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]

    report = json.loads((tmp_path / "cluster.json").read_text())
    cells = {(cell["scenario"], cell["replicas"]): cell for cell in report["cells"]}
    assert set(cells) == {("point", 3), ("point", 1), ("write", 3), ("write", 1)}
    for cell in cells.values():
        assert cell["requests"] > 0, cell
        assert cell["non_2xx"] == cell["socket_errors"] == 0, cell
        assert cell["cpu_ms_per_request"]["replicas"] > 0, cell
    # Point reads carry no token: the standby serves them. Writes make no read at all.
    assert cells[("point", 3)]["reads"]["replica"] > 0
    assert cells[("write", 3)]["reads"] == {"primary": 0, "replica": 0}
    assert report["summary"]["point"]["ratio_3_to_1"]["median"] > 0
    assert "| point | 3 |" in (tmp_path / "cluster.md").read_text()
    assert _cluster_processes() <= before, "the cluster's HAProxy or PgBouncer outlived the run"
