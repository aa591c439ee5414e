"""Peak resident memory of a server's whole process tree while a benchmark runs (issue #14).

A server's memory is its master's and its workers' together (Gunicorn forks, Hypercorn's supervisor starts
processes), and what a growing number of connections costs shows as the peak while they are held, not after they
are gone: so the sum over the tree is sampled in a background thread and its maximum kept.

``python -m bench memory --pid PID [--duration S]`` prints the tree's RSS now, or its peak over S seconds.
"""

from __future__ import annotations

import argparse
import threading
import time
from types import TracebackType

import psutil


def tree_rss(pid: int) -> int:
    """Resident bytes of the process and all its descendants now; 0 once the process is gone.

    A process that exits between being listed and being read is left out, not an error: trees change under load.
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += int(process.memory_info().rss)
        except psutil.Error:
            continue
    return total


class PeakRss:
    """The largest :func:`tree_rss` seen between ``start`` and ``stop``, sampled every ``interval`` seconds.

    Sampled in a thread rather than once at the end, since the peak is what a memory limit has to hold. Also a
    context manager: ``with PeakRss(pid) as peak: ...`` then ``peak.peak``.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling (in a daemon thread: a forgotten ``stop`` never keeps the interpreter alive)."""
        if self._thread is not None:
            raise RuntimeError("PeakRss already started")
        self.peak = tree_rss(self.pid)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._sample, name=f"peak-rss-{self.pid}", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling; the peak in bytes of the tree's summed RSS over all samples (one more taken now)."""
        if self._thread is None:
            raise RuntimeError("PeakRss not started")
        self._stopping.set()
        self._thread.join()
        self._thread = None
        self.peak = max(self.peak, tree_rss(self.pid))
        return self.peak

    def _sample(self) -> None:
        while not self._stopping.wait(self.interval):
            self.peak = max(self.peak, tree_rss(self.pid))

    def __enter__(self) -> PeakRss:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    """Print the tree's RSS in MiB, now or as a peak over ``--duration`` seconds."""
    parser = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--duration", type=float, default=0.0, help="sample this long and print the peak")
    parser.add_argument("--interval", type=float, default=0.05)
    options = parser.parse_args(argv)
    if options.duration <= 0:
        print(f"{tree_rss(options.pid) / 2**20:.1f} MiB")
        return 0
    with PeakRss(options.pid, options.interval) as sampler:
        time.sleep(options.duration)
    print(f"peak {sampler.peak / 2**20:.1f} MiB")
    return 0
