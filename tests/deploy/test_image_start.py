"""The image's start command, run without Docker: a clean virtualenv built the way the Dockerfile's build stage
builds one, the runtime stage's files in an app directory, then ``docker-entrypoint.sh migrate`` on an empty
database and ``docker-entrypoint.sh serve`` — /health, /ready, the HEALTHCHECK command, SIGTERM, exit 0.

This test installs the package from the package index (pip's cache makes a second run quick).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.dockerfile import parse
from tests.support.processes import ROOT, LeakGuard, query, report, secrets_of, start_server
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 300


@dataclass
class Image:
    """The image, unpacked: its virtualenv and its working directory."""

    venv: Path
    app: Path
    build_seconds: float

    @property
    def path(self) -> str:
        # As the image's ENV PATH: the virtualenv first, then the system's.
        return f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    dockerfile = parse(ROOT / "Dockerfile")
    root = tmp_path_factory.mktemp("image")
    started = time.monotonic()
    # The build stage: its COPY'd sources into a directory, a venv, `pip install .` (no extra).
    build = dockerfile.stage("build")
    src = root / "src"
    src.mkdir()
    for copy in build.all("COPY"):
        *sources, target = copy.words()
        for source in sources:
            _copy(ROOT / source, src / target / Path(source).name if target.endswith("/") else src / target)
    # What this fixture repeats: the build stage's one install, of the package without any extra.
    installs = [i.arguments for i in build.all("RUN") if "pip install" in i.arguments]
    assert [install.split(" && ")[0] for install in installs] == ["/opt/venv/bin/pip install --no-compile ."]
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "."],
        cwd=src,
        env=env,
        check=True,
        timeout=INSTALL_TIMEOUT,
        capture_output=True,
    )
    # The runtime stage (and the stage it is built on): every file COPY'd from the build context into /app.
    app = root / "app"
    app.mkdir()
    for stage in dockerfile.lineage(dockerfile.stages[-1]):
        for copy in stage.all("COPY"):
            if "from" in copy.flags():
                continue
            *sources, target = copy.words()
            for source in sources:
                _copy(ROOT / source, app / Path(source).name if target.endswith("/") else app / target)
    return Image(venv, app, time.monotonic() - started)


def test_the_image_has_only_runtime_dependencies(request: pytest.FixtureRequest, image: Image) -> None:
    done = subprocess.run([str(image.venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True)
    installed = {line.split("==")[0].lower() for line in done.stdout.splitlines()}
    report(request, venv_build_s=round(image.build_seconds, 1), packages=len(installed))
    assert {"quart", "hypercorn", "sqlalchemy", "asyncpg", "alembic"} <= installed
    # The twin's extra and the dev tools stay out.
    assert not installed & {"flask-sqlalchemy", "psycopg", "gunicorn", "pytest", "ruff", "mypy", "pgserver"}


def test_migrate_then_serve_then_stop(request: pytest.FixtureRequest, image: Image, empty_database_url: str) -> None:
    guard = LeakGuard(secrets=secrets_of(empty_database_url))
    entrypoint = str(image.app / "docker-entrypoint.sh")
    # The image's ENV; nothing from this test process (no PYTHONPATH, no virtualenv of the repository).
    env = {
        "PATH": image.path,
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(image.app),
        "DATABASE_URL": empty_database_url,
    }
    migrate = subprocess.run(
        [entrypoint, "migrate"], cwd=image.app, env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    guard.check("migrate's output", migrate.stdout + migrate.stderr)
    (head,) = query(empty_database_url, "SELECT version_num FROM alembic_version")[0]

    port = free_port()
    server = start_server(
        "quart",
        {**env, "HYPERCORN_BIND": f"127.0.0.1:{port}"},
        image.app,
        command=[entrypoint, "serve"],
        port=port,
    )
    try:
        server.wait_healthy()
        health = httpx.get(f"{server.base_url}/health", timeout=5)
        ready = httpx.get(f"{server.base_url}/ready", timeout=5)
        created = httpx.post(f"{server.base_url}/users", json={"email": "img@example.com", "name": "Img"}, timeout=5)
        healthcheck = _healthcheck(image, port, env)
    finally:
        started_stop = time.monotonic()
        code = server.stop(30)
        stopped_after = time.monotonic() - started_stop
    log = server.log()
    healthcheck_after = _healthcheck(image, port, env)
    report(
        request,
        alembic_head=head,
        statuses=[health.status_code, ready.status_code, created.status_code],
        healthcheck_exit=healthcheck,
        healthcheck_exit_after_stop=healthcheck_after,
        exit_code=code,
        stopped_after_s=round(stopped_after, 2),
    )
    guard.check("the served image's log", log)
    assert (health.status_code, ready.status_code, created.status_code) == (200, 200, 201)
    assert healthcheck == 0
    assert healthcheck_after != 0
    assert code == 0
    assert "Running on http://127.0.0.1" in log


def _healthcheck(image: Image, port: int, env: dict[str, str]) -> int:
    """The Dockerfile's HEALTHCHECK command, as Docker would run it in the container (the port aside)."""
    dockerfile = parse(ROOT / "Dockerfile")
    check = dockerfile.effective(dockerfile.stages[-1], "HEALTHCHECK")
    assert check is not None
    command = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in check.exec_form() or []]
    return subprocess.run(command, cwd=image.app, env=env, capture_output=True, timeout=10).returncode
