"""``bench.memory``: the peak RSS of a process tree, on real child processes that allocate ~100 MB."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from bench.memory import PeakRss, tree_rss

pytestmark = pytest.mark.slow

MB = 1_000_000

# Allocates 100 MB on "alloc" (bytes * n writes every page, so it is resident), frees it on "free", exits on EOF.
# Each step is acknowledged with a line, so the test knows where the child is.
ALLOCATOR = """
import sys
held = None
print("idle", flush=True)
for line in sys.stdin:
    if line.strip() == "alloc":
        held = b"x" * 100_000_000
    else:
        held = None
    print("done", flush=True)
"""

# A parent that allocates nothing and holds an ALLOCATOR child that has allocated; exits (with it) on EOF.
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {ALLOCATOR!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdout.readline()
child.stdin.write(b"alloc\\n"); child.stdin.flush()
child.stdout.readline()
print(child.pid, flush=True)
sys.stdin.read()
child.stdin.close(); child.wait()
"""


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def allocator() -> Iterator[subprocess.Popen[str]]:
    with _python(ALLOCATOR) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "idle"
        yield process
        # Leaving the block closes its stdin: the child's loop ends and the block waits for it.


def _step(process: subprocess.Popen[str], command: str) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(command + "\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "done"


def test_the_peak_is_kept_after_the_memory_is_freed(allocator: subprocess.Popen[str]) -> None:
    idle = tree_rss(allocator.pid)
    assert idle > 0
    sampler = PeakRss(allocator.pid, interval=0.02)
    sampler.start()
    _step(allocator, "alloc")
    time.sleep(0.3)  # several samples while it is held
    _step(allocator, "free")
    time.sleep(0.1)
    peak = sampler.stop()
    after = tree_rss(allocator.pid)
    assert peak >= idle + 90 * MB
    assert peak < idle + 150 * MB  # counted once
    assert after < peak - 90 * MB  # really given back: the peak came from the samples, not from the last one


def test_the_tree_counts_the_descendants() -> None:
    with _python(PARENT) as parent:
        assert parent.stdout is not None
        assert parent.stdin is not None
        child = psutil.Process(int(parent.stdout.readline()))
        try:
            own = psutil.Process(parent.pid).memory_info().rss
            assert own < 50 * MB  # the allocation is not the parent's
            total = tree_rss(parent.pid)
            assert total >= own + 90 * MB
            assert abs(total - own - child.memory_info().rss) < 5 * MB  # the two of them, each once
            with PeakRss(parent.pid, interval=0.02) as sampler:
                time.sleep(0.1)
            assert sampler.peak >= own + 90 * MB
        finally:
            parent.stdin.close()
            parent.wait(10)
    assert not child.is_running()


def test_a_process_that_is_gone_has_none() -> None:
    with _python("pass") as process:
        process.communicate()
    assert tree_rss(process.pid) == 0
    sampler = PeakRss(process.pid, interval=0.01)
    sampler.start()
    time.sleep(0.05)
    assert sampler.stop() == 0
