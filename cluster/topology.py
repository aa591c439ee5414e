"""The scale-out topology as local processes: what starts, in which order, and the handle tests drive it with.

    postgres (primary) -> alembic upgrade head -> postgres-standby (pg_basebackup) -> pgbouncer (-> primary)
    -> app-1..app-N (Hypercorn) and twin (Gunicorn), each ready on /ready -> haproxy (every server UP)

It stops in the reverse order, and everything it started is stopped even when a later part fails to start.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cluster import haproxy
from cluster.pgbouncer import PgBouncer, running_pgbouncer
from cluster.postgres import PostgresServer, init_primary, init_standby, system_user
from cluster.processes import ROOT, Child, StartError, answers, clean_env, free_port, wait_for

PARTS = ("postgres", "postgres-standby", "pgbouncer", "app", "twin", "haproxy")
"""The long-running parts, in start order; docker-compose.yml runs services of the same names (``app`` scaled to
N replicas), plus its one-shot ``migrate`` job and the optional ``prometheus``."""
FRONTENDS = {"public": "app", "twin": "twin"}
"""HAProxy's frontends and the backend each one serves (``deploy/haproxy/haproxy.cfg``)."""
BIN = Path(sys.executable).parent


@dataclass
class ClusterConfig:
    """What to start. Ports 0 are free ports chosen at start."""

    replicas: int = 3
    """Async service replicas behind HAProxy's ``app`` backend."""
    work_dir: Path | None = None
    """Data, logs and configs; ``None``: a temporary directory removed at the end. A given directory keeps the
    logs and configs afterwards (the databases are removed)."""
    app_env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment of every app process (replicas and twin); it wins over the topology's settings."""
    replica_max_lag: float = 5.0
    drain_seconds: float = 3.0
    """DRAIN_SECONDS of the apps: above HAProxy's check interval x fall (500 ms x 2) so a stopping replica leaves
    rotation before it stops listening."""
    front_port: int = 0
    twin_front_port: int = 0
    stats_port: int = 0
    database: str = "app"
    """The database the apps use (created on the primary and migrated)."""
    start_timeout: float = 60.0


def replica_name(i: int) -> str:
    """The name of replica ``i`` (0-based): its HAProxy server name, its DB_APPLICATION_NAME and its log's name."""
    return f"app-{i + 1}"


class Cluster:
    """A running topology (made by :func:`running_cluster`); URLs of each part and the controls tests need."""

    def __init__(
        self,
        config: ClusterConfig,
        work_dir: Path,
        primary: PostgresServer,
        standby: PostgresServer,
        bouncer: PgBouncer,
        bouncer_password: str,
    ) -> None:
        self.config = config
        self.work_dir = work_dir
        self.primary = primary
        self.standby = standby
        self.bouncer = bouncer
        self.primary_dsn = primary.dsn
        """Direct to the primary (superuser, trust)."""
        self.standby_dsn = standby.dsn
        """Direct to the read-only standby."""
        self.pgbouncer_dsn = f"postgresql://postgres:{bouncer_password}@127.0.0.1:{bouncer.port}/{config.database}"
        """Through PgBouncer (transaction mode) to the primary: what the apps use. PgBouncer authenticates its
        clients as the deploy file says (scram-sha-256), so it carries a password made up for this cluster."""
        self.replicas: list[Child] = []
        self.replica_urls: list[str] = []
        """Each async replica directly (it also serves /metrics, which the front door refuses)."""
        self.twin: Child | None = None
        self.twin_url = ""
        self.haproxy: Child | None = None
        self.front_url = ""
        """HAProxy's ``public`` frontend: the async service's front door."""
        self.twin_front_url = ""
        """HAProxy's ``twin`` frontend."""
        self.stats_url = ""
        """HAProxy's statistics page (``;csv`` appended: machine-readable)."""

    # -- processes ------------------------------------------------------------------------------------------

    def parts(self) -> list[str]:
        """The names of the running parts: postgres, postgres-standby, pgbouncer, app-1..app-N, twin, haproxy."""
        apps = [child.name for child in self.replicas]
        return ["postgres", "postgres-standby", "pgbouncer", *apps, "twin", "haproxy"]

    def replica_pid(self, i: int) -> int:
        return self.replicas[i].pid

    def kill_replica(self, i: int) -> None:
        """SIGKILL replica ``i`` (0-based) and reap it: no drain, its in-flight requests are lost."""
        self.replicas[i].kill()

    def stop_replica(self, i: int, timeout: float = 30) -> int:
        """SIGTERM replica ``i``: it drains (``/ready`` 503 for drain_seconds), then stops gracefully. Waits for
        its exit (SIGKILL after ``timeout``) and returns its exit code."""
        child = self.replicas[i]
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout)
        return child.kill() if code is None else code

    def start_replica(self, i: int) -> None:
        """Start replica ``i`` again on its port; returns once it answers ``/ready`` 200 directly (HAProxy puts it
        back in rotation after its next two good checks: see :meth:`wait_backend`)."""
        child = self.replicas[i]
        if child.alive():
            raise RuntimeError(f"{child.name} is running")
        child.start()
        wait_for(lambda: answers(f"{self.replica_urls[i]}/ready"), self.config.start_timeout, "ready", child)

    def replica_log(self, i: int) -> str:
        """Everything replica ``i`` wrote (all its runs: a restart appends)."""
        return self.replicas[i].log()

    def twin_log(self) -> str:
        return self.twin.log() if self.twin is not None else ""

    def haproxy_log(self) -> str:
        return self.haproxy.log() if self.haproxy is not None else ""

    # -- HAProxy --------------------------------------------------------------------------------------------

    def backend_status(self, backend: str = "app") -> dict[str, str]:
        """Server name -> status in ``backend`` (``UP``, ``DOWN``, ``UP 1/2``, ``DOWN 1/2``, ...) per HAProxy."""
        return haproxy.server_status(self.stats_url, backend)

    def wait_backend(self, backend: str, server: str, status: str, timeout: float) -> None:
        """Wait until HAProxy reports ``server`` of ``backend`` with exactly ``status``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.backend_status(backend)
            if current.get(server) == status:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{backend}/{server} is not {status} after {timeout} s: {current}")
            time.sleep(0.05)

    # -- the standby ----------------------------------------------------------------------------------------

    def stop_standby(self) -> None:
        """``pg_ctl stop -m fast`` on the standby; its data stays, :meth:`start_standby` resumes streaming."""
        self.standby.stop()

    def start_standby(self) -> None:
        """Start the standby again on its port; returns once it accepts connections (read-only)."""
        self.standby.start()

    def wait_standby_replayed(self, timeout: float = 30) -> None:
        """Wait until the standby has replayed everything the primary has written so far. Reads without a
        consistency token may be served from a standby that is a moment behind (the contract allows it): call this
        after loading data that such reads must find (a benchmark's seed)."""
        # The insert position, not pg_current_wal_lsn(): with synchronous_commit off (postgres.py) a commit
        # returns before its WAL is written, and the write position can still be short of it.
        (target,) = self.primary.query("SELECT pg_current_wal_insert_lsn()::text")[0]
        wait_for(
            lambda: bool(self.standby.query(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0]),
            timeout,
            f"the standby has replayed the primary up to {target}",
        )


@contextlib.contextmanager
def running_cluster(config: ClusterConfig) -> Iterator[Cluster]:
    """The whole topology for the block, stopped and its data removed afterwards (also when a part fails)."""
    if config.replicas < 1:
        raise ValueError("replicas must be >= 1")
    if haproxy.haproxy_binary() is None:
        raise StartError("haproxy is not installed (make system-deps installs it)")
    with contextlib.ExitStack() as stack:
        work_dir = _work_dir(config, stack)
        logs = work_dir / "logs"
        logs.mkdir(exist_ok=True)
        user = system_user()
        primary = init_primary(work_dir / "pg" / "primary", config.database, user)
        stack.callback(primary.stop)
        _migrate(primary, logs / "migrate.log")
        standby = init_standby(primary, work_dir / "pg" / "standby")
        stack.callback(standby.stop)
        password = secrets.token_hex(12)
        bouncer = stack.enter_context(
            running_pgbouncer("127.0.0.1", primary.port, "postgres", password, work_dir=work_dir / "pgbouncer")
        )
        cluster = Cluster(config, work_dir, primary, standby, bouncer, password)
        stack.callback(_stop_apps, cluster)
        _start_apps(cluster, logs)
        stack.callback(_stop_haproxy, cluster)
        _start_haproxy(cluster, work_dir, logs)
        for backend, server in [("app", child.name) for child in cluster.replicas] + [("twin", "twin")]:
            cluster.wait_backend(backend, server, "UP", config.start_timeout)
        yield cluster


def _work_dir(config: ClusterConfig, stack: contextlib.ExitStack) -> Path:
    if config.work_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="cluster-"))
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
    else:
        work_dir = config.work_dir.resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        if (work_dir / "pg").exists():
            raise StartError(f"{work_dir} holds the data of another cluster")
        for data in ("pg", "metrics", "pgbouncer"):
            stack.callback(shutil.rmtree, work_dir / data, ignore_errors=True)
    # PostgreSQL's user and `nobody` (PgBouncer) traverse it; mkdtemp made it 0700.
    work_dir.chmod(0o755)
    return work_dir


def _migrate(primary: PostgresServer, log_path: Path) -> None:
    """``alembic upgrade head`` straight to the primary, as compose's ``migrate`` job does (no pooler)."""
    with log_path.open("wb") as log:
        result = subprocess.run(
            [str(BIN / "alembic"), "upgrade", "head"],
            cwd=ROOT,
            env=clean_env({"DATABASE_URL": primary.dsn}),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise StartError(f"alembic upgrade head failed ({result.returncode}):\n{log_path.read_text()[-3000:]}")


def _app_env(cluster: Cluster, name: str) -> dict[str, str]:
    config = cluster.config
    return {
        "DATABASE_URL": cluster.pgbouncer_dsn,
        "DB_PGBOUNCER": "transaction",
        "DATABASE_REPLICA_URLS": cluster.standby_dsn,
        "DB_REPLICA_MAX_LAG": f"{config.replica_max_lag:g}",
        "DRAIN_SECONDS": f"{config.drain_seconds:g}",
        "DB_APPLICATION_NAME": name,
        **config.app_env,
    }


def _start_apps(cluster: Cluster, logs: Path) -> None:
    """Start every replica and the twin at once, then wait until each answers /ready 200 directly."""
    for i in range(cluster.config.replicas):
        port, name = free_port(), replica_name(i)
        command = [
            str(BIN / "python"), "-m", "service.quart_app.serve", "--config", "hypercorn.toml",
            "--bind", f"127.0.0.1:{port}", "service.quart_app:create_app()",
        ]  # fmt: skip
        cluster.replicas.append(Child(name, command, clean_env(_app_env(cluster, name)), logs / f"{name}.log"))
        cluster.replica_urls.append(f"http://127.0.0.1:{port}")
    port = free_port()
    metrics_dir = cluster.work_dir / "metrics" / "twin"
    metrics_dir.mkdir(parents=True)
    twin_env = {**_app_env(cluster, "twin"), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    cluster.twin = Child("twin", command, clean_env(twin_env), logs / "twin.log")
    cluster.twin_url = f"http://127.0.0.1:{port}"
    apps = [*cluster.replicas, cluster.twin]
    for child in apps:
        child.start()
    for child, url in zip(apps, [*cluster.replica_urls, cluster.twin_url], strict=True):
        wait_for(lambda url=url: answers(f"{url}/ready"), cluster.config.start_timeout, "ready", child)  # type: ignore[misc]


def _stop_apps(cluster: Cluster) -> None:
    """Stop the apps together. HAProxy is gone by now, so nothing is left to drain for: a second SIGTERM ends a
    replica's drain at once (then it finishes what is in flight), and SIGINT is Gunicorn's quick stop."""
    for child in cluster.replicas:
        child.send_signal(signal.SIGTERM)
    if cluster.twin is not None:
        cluster.twin.send_signal(signal.SIGINT)
    time.sleep(0.2)
    for child in cluster.replicas:
        child.send_signal(signal.SIGTERM)
    for child in [*cluster.replicas, *([cluster.twin] if cluster.twin is not None else [])]:
        child.stop(timeout=30, signals=())


def _start_haproxy(cluster: Cluster, work_dir: Path, logs: Path) -> None:
    config = cluster.config
    front, twin_front, stats = (
        port or free_port() for port in (config.front_port, config.twin_front_port, config.stats_port)
    )
    addresses = [url.removeprefix("http://") for url in cluster.replica_urls]
    servers = {
        "app": [(child.name, address) for child, address in zip(cluster.replicas, addresses, strict=True)],
        "twin": [("twin", cluster.twin_url.removeprefix("http://"))],
    }
    config_path = work_dir / "haproxy.cfg"
    config_path.write_text(haproxy.render(servers))
    env = clean_env(
        {
            "HAPROXY_PUBLIC_BIND": f"127.0.0.1:{front}",
            "HAPROXY_TWIN_BIND": f"127.0.0.1:{twin_front}",
            "HAPROXY_STATS_BIND": f"127.0.0.1:{stats}",
        }
    )
    binary = haproxy.haproxy_binary()
    assert binary is not None
    check = subprocess.run([binary, "-c", "-q", "-f", str(config_path)], env=env, capture_output=True, text=True)
    if check.returncode != 0:
        raise StartError(f"haproxy refuses {config_path}:\n{check.stdout}{check.stderr}")
    cluster.haproxy = Child("haproxy", [binary, "-f", str(config_path), "-db"], env, logs / "haproxy.log")
    cluster.front_url = f"http://127.0.0.1:{front}"
    cluster.twin_front_url = f"http://127.0.0.1:{twin_front}"
    cluster.stats_url = f"http://127.0.0.1:{stats}/stats"
    cluster.haproxy.start()
    wait_for(lambda: answers(f"{cluster.stats_url};csv"), config.start_timeout, "serving its stats", cluster.haproxy)


def _stop_haproxy(cluster: Cluster) -> None:
    if cluster.haproxy is not None:
        # SIGTERM: HAProxy's hard stop (the apps behind it stop next anyway).
        cluster.haproxy.stop(timeout=10)
