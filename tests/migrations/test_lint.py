"""squawk lints each revision's offline SQL on its own; a revision's ``SQUAWK_ALLOW`` names, with a reason, the
rules it breaks on purpose."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import Script, ScriptDirectory

from tests.conftest import ROOT

SQUAWK = Path(sys.executable).with_name("squawk")
SQUAWK_CONFIG = ROOT / ".squawk.toml"
# Offline mode never connects: any postgresql URL renders the SQL.
OFFLINE_URL = "postgresql://lint@localhost/lint"
TIMEOUT = 120


def _revisions() -> list[Script]:
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    return list(reversed(list(script.walk_revisions("base", "heads"))))


REVISIONS = _revisions()


def _allowances(revision: Script) -> dict[str, str]:
    return dict(getattr(revision.module, "SQUAWK_ALLOW", {}))


ALLOWING = [r for r in REVISIONS if _allowances(r)]


def _global_exclusions() -> list[str]:
    return list(tomllib.loads(SQUAWK_CONFIG.read_text())["excluded_rules"])


def offline_sql(revision: Script) -> str:
    down = revision.down_revision or "base"
    assert isinstance(down, str), "merge revisions are not expected here"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-x",
            f"url={OFFLINE_URL}",
            "upgrade",
            f"{down}:{revision.revision}",
            "--sql",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    # This revision's SQL alone, not its ancestors'.
    assert proc.stdout.count("-- Running upgrade") == 1, proc.stdout
    assert f"Running upgrade {revision.down_revision or ''} -> {revision.revision}" in proc.stdout
    return proc.stdout


def squawk(path: Path, exclude: list[str]) -> subprocess.CompletedProcess[str]:
    # A command-line --exclude replaces the config file's excluded_rules rather than adding to them (squawk 2.x),
    # so the project-wide exclusions are passed again alongside the revision's own.
    args = [str(SQUAWK), "--config", str(SQUAWK_CONFIG), "--reporter", "gcc"]
    if exclude:
        args.append("--exclude=" + ",".join(exclude))
    return subprocess.run([*args, str(path)], capture_output=True, text=True, timeout=TIMEOUT, cwd=path.parent)


@pytest.mark.parametrize("revision", REVISIONS, ids=[r.revision for r in REVISIONS])
def test_revision_passes_squawk(revision: Script, tmp_path: Path) -> None:
    allow = _allowances(revision)
    for rule, reason in allow.items():
        assert isinstance(reason, str), f"{revision.revision}: SQUAWK_ALLOW[{rule!r}] needs a written reason"
        assert reason.strip(), f"{revision.revision}: SQUAWK_ALLOW[{rule!r}] needs a written reason"
    path = tmp_path / f"{revision.revision}.sql"
    path.write_text(offline_sql(revision))

    proc = squawk(path, [*_global_exclusions(), *allow])

    assert proc.returncode == 0, f"squawk on {revision.revision}:\n{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("revision", ALLOWING, ids=[r.revision for r in ALLOWING])
def test_every_allowance_is_still_needed(revision: Script, tmp_path: Path) -> None:
    """An exception nobody needs any more should be deleted, not kept as a blanket licence."""
    path = tmp_path / f"{revision.revision}.sql"
    path.write_text(offline_sql(revision))
    for rule in _allowances(revision):
        others = [r for r in _allowances(revision) if r != rule]
        proc = squawk(path, [*_global_exclusions(), *others])
        assert proc.returncode != 0, f"{revision.revision}: {rule} is allowed but never triggered"
        assert rule in proc.stdout


def test_squawk_rejects_a_bad_migration(tmp_path: Path) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("ALTER TABLE users DROP COLUMN x;\n")

    proc = squawk(path, [])

    assert proc.returncode != 0
    assert "ban-drop-column" in proc.stdout
