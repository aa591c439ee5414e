"""docs/porting.md names files, functions and tests as the places to look: each must exist.

A rename elsewhere in the project then fails here, not in a reader's hands.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "porting.md"

# `path` or `path::Name` / `path::Class.method`, for paths inside this repository.
CITATION = re.compile(r"`((?:service|tests|migrations|scripts|docs)/[\w./]+)(?:::([\w.]+))?`")


def _citations() -> list[tuple[str, str | None]]:
    return sorted(set(CITATION.findall(GUIDE.read_text())), key=lambda c: (c[0], c[1] or ""))


def _defined_names(path: Path) -> set[str]:
    """Every function and class name in the module, top level or nested (methods, views inside factories)."""
    tree = ast.parse(path.read_text())
    return {
        node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def test_the_guide_cites_enough_to_check() -> None:
    assert len(_citations()) > 50


@pytest.mark.parametrize(("path", "name"), _citations(), ids=lambda value: value or "")
def test_every_cited_file_and_name_exists(path: str, name: str | None) -> None:
    target = ROOT / path.rstrip("/")
    assert target.exists(), f"docs/porting.md cites {path}, which does not exist"
    if name:
        defined = _defined_names(target)
        missing = [part for part in name.split(".") if part not in defined]
        assert not missing, f"docs/porting.md cites {path}::{name}; {missing} not defined there"
