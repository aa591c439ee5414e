"""``python -m cluster``: start the topology, print every address, run until Ctrl-C or SIGTERM, then remove it all."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from cluster.processes import StartError
from cluster.topology import Cluster, ClusterConfig, running_cluster


class _Stop(Exception):
    """Raised in the main thread by the first SIGINT/SIGTERM: unwinds the start or the wait, stopping every part."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Further signals are ignored: the stop that is starting must not be cut short and leave a process behind.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def describe(cluster: Cluster) -> str:
    """Every address of the running topology, one per line."""
    lines = [
        f"front door (async service)  {cluster.front_url}",
        f"front door (twin)           {cluster.twin_front_url}",
        f"HAProxy stats               {cluster.stats_url}",
        *(f"replica {child.name:<20}{url}" for child, url in zip(cluster.replicas, cluster.replica_urls, strict=True)),
        f"twin                        {cluster.twin_url}",
        f"PostgreSQL primary          {cluster.primary_dsn}",
        f"PostgreSQL standby          {cluster.standby_dsn}",
        f"PgBouncer (-> primary)      {cluster.pgbouncer_dsn}",
        f"logs                        {cluster.work_dir / 'logs'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m cluster``."""
    parser = argparse.ArgumentParser(prog="python -m cluster", description=__doc__)
    parser.add_argument("--replicas", type=int, default=3, help="async service replicas (default: %(default)s)")
    parser.add_argument("--front-port", type=int, default=8080, help="public front door, 0: any (default: %(default)s)")
    parser.add_argument("--twin-port", type=int, default=8081, help="twin front door, 0: any (default: %(default)s)")
    parser.add_argument("--stats-port", type=int, default=8404, help="HAProxy stats, 0: any (default: %(default)s)")
    parser.add_argument("--drain-seconds", type=float, default=3.0, help="DRAIN_SECONDS (default: %(default)s)")
    parser.add_argument("--replica-max-lag", type=float, default=5.0, help="DB_REPLICA_MAX_LAG (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, help="keep logs and configs there (default: a temporary directory)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra setting of every app (repeatable)"
    )
    args = parser.parse_args(argv)
    malformed = [item for item in args.env if "=" not in item]
    if malformed:
        parser.error(f"--env takes NAME=VALUE, not {malformed[0]!r}")
    app_env = dict(item.split("=", 1) for item in args.env)
    config = ClusterConfig(
        replicas=args.replicas,
        work_dir=args.work_dir,
        app_env=app_env,
        replica_max_lag=args.replica_max_lag,
        drain_seconds=args.drain_seconds,
        front_port=args.front_port,
        twin_front_port=args.twin_port,
        stats_port=args.stats_port,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    try:
        print("cluster: starting ...", file=sys.stderr, flush=True)
        with running_cluster(config) as cluster:
            print(describe(cluster), flush=True)
            print("cluster: ready; Ctrl-C stops it and removes its data", file=sys.stderr, flush=True)
            while True:
                signal.pause()
    except _Stop as stop:
        print(f"cluster: {stop}: stopped", file=sys.stderr)
        return 0
    except StartError as exc:
        print(f"cluster: did not start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
