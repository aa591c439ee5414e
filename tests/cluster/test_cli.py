"""``python -m cluster`` (what ``make cluster`` runs): it prints every address, serves, and on Ctrl-C stops every
part and removes its data — no process and no file left behind."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from cluster.haproxy import haproxy_binary
from tests.support.ci import missing
from tests.support.processes import ROOT

pytestmark = pytest.mark.slow


def _processes_mentioning(texts: list[str]) -> list[str]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or ())
        if any(text in line for text in texts):
            found.append(line)
    return found


def test_ctrl_c_stops_every_part_and_removes_the_data() -> None:
    if haproxy_binary() is None:
        missing("haproxy is not installed (make system-deps installs it)")
    command = [sys.executable, "-m", "cluster", "--replicas", "1", "--front-port", "0", "--twin-port", "0",
               "--stats-port", "0"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed: list[str] = []
    with process:
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                printed.append(line)
                if "ready" in line and "Ctrl-C" in line:
                    break
            text = "".join(printed)
            assert "Ctrl-C" in text, text
            addresses = dict(re.findall(r"^(front door \(async service\)|replica app-1|logs)\s+(\S+)$", text, re.M))
            front, replica, logs = (
                addresses["front door (async service)"],
                addresses["replica app-1"],
                addresses["logs"],
            )
            assert httpx.get(f"{front}/health", timeout=5).status_code == 200
            assert httpx.get(f"{replica}/ready", timeout=5).status_code == 200
            work_dir = Path(logs).parent
            assert work_dir.is_dir()
            assert _processes_mentioning([str(work_dir)]), "postgres, pgbouncer and haproxy run from the work dir"

            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:  # a check above failed: stop it the way that cleans up, then for sure
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert not work_dir.exists(), f"{work_dir} was left behind"
    replica_port = replica.rsplit(":", 1)[1]
    assert _processes_mentioning([str(work_dir), f"127.0.0.1:{replica_port}"]) == []
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{front}/health", timeout=2)
