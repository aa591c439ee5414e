"""Generate the sync twin's repositories, use cases and handlers from their async source.

``python scripts/generate_sync.py`` rewrites every ``service/<pkg>/_async/*.py`` into ``service/<pkg>/_sync/``;
``--check`` only compares and exits 1 when a generated file is stale (``make test`` runs it).
The token rules are unasync's (``async def`` -> ``def``, ``await x`` -> ``x``, ``_async`` -> ``_sync``) plus the
names below; the line rules fix the two imports that are not a one-token rename.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("repositories", "usecases", "api", "replication")
HEADER = "# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.\n"
TOKENS = {
    "AsyncEngine": "Engine",
    "AsyncSession": "Session",
    "AsyncWork": "SyncWork",
    "_async": "_sync",
    "asyncio": "time",
    "copy_rows": "copy_rows_sync",
}
LINES = {
    "from sqlalchemy.ext.time import Session": "from sqlalchemy.orm import Session",
    "from sqlalchemy.ext.time import Engine": "from sqlalchemy import Engine",
}


def _transform(source_dir: Path, target_dir: Path) -> None:
    files = sorted(str(path) for path in source_dir.glob("*.py"))
    rule = unasync.Rule(str(source_dir) + "/", str(target_dir) + "/", additional_replacements=TOKENS)
    unasync.unasync_files(files, [rule])
    for path in target_dir.glob("*.py"):
        lines = [LINES.get(line.rstrip("\n"), line.rstrip("\n")) + "\n" for line in path.read_text().splitlines()]
        path.write_text(HEADER + "".join(lines))
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target_dir)], check=True)
    subprocess.run(
        [sys.executable, "-m", "ruff", "check", "-q", "--fix", "--select", "I,F401", str(target_dir)], check=False
    )


def generate(out_root: Path) -> list[Path]:
    written: list[Path] = []
    for package in PACKAGES:
        source = ROOT / "service" / package / "_async"
        target = out_root / "service" / package / "_sync"
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.py"):
            stale.unlink()
        _transform(source, target)
        written.extend(sorted(target.glob("*.py")))
    return written


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stale = 0
        for fresh in generate(Path(tmp)):
            committed = ROOT / fresh.relative_to(tmp)
            old = committed.read_text().splitlines(keepends=True) if committed.exists() else []
            new = fresh.read_text().splitlines(keepends=True)
            if old != new:
                stale += 1
                sys.stdout.writelines(difflib.unified_diff(old, new, str(committed), "generated"))
        for package in PACKAGES:
            for committed in (ROOT / "service" / package / "_sync").glob("*.py"):
                if not (Path(tmp) / committed.relative_to(ROOT)).exists():
                    stale += 1
                    print(f"{committed}: no async source generates it")
    if stale:
        print(f"{stale} generated file(s) are stale: run `make generate`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        sys.exit(check())
    generate(ROOT)
