"""What a test does when something it needs is missing: skip on a developer's machine, fail in CI.

CI (``CI=true``) installs every tool the suite drives (``make system-deps``): a missing one there is a broken
install step, and a skip would let the run go green without the tests that needed it.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(what: str) -> NoReturn:
    """Skip the test for lack of ``what`` (say how to get it), or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"CI: {what}", pytrace=False)
    pytest.skip(what)
