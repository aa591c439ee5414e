"""Trap: pytest-asyncio loop scopes (docs/porting.md, trap 6).

A Flask-SQLAlchemy test suite shares one engine across tests without a second thought. An async engine's pooled
connections belong to the event loop they were opened on; pytest-asyncio gives every test a loop of its own unless
told otherwise, so an engine (or an app that started its engine) shared across tests hands the second test a
connection of the first test's loop: "attached to a different loop". ``pyproject.toml`` therefore sets
``asyncio_default_fixture_loop_scope`` and ``asyncio_default_test_loop_scope`` to ``session``: one loop for the
whole run, on which every session-scoped engine (``tests/conftest.py``'s ``shared_engine``) and every test runs.

The first test runs a two-test suite in a pytest of its own, once per setting, so it shows the failure itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import async_url

SUITE = """
import os

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.fixture(scope="session")
async def engine():
    engine = create_async_engine(os.environ["PORTING_LOOP_URL"], pool_size=1)
    yield engine
    await engine.dispose()


async def test_first(engine):
    async with engine.connect() as conn:  # opens the pool's connection, on this test's loop
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_second(engine):
    async with engine.connect() as conn:  # reuses it
        assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
"""


def _run_suite(tmp_path: Path, server_url: str, test_loop_scope: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\n"
        "asyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = session\n"
        f"asyncio_default_test_loop_scope = {test_loop_scope}\n"
    )
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {**os.environ, "PORTING_LOOP_URL": async_url(server_url).render_as_string(hide_password=False)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_suite.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("test_loop_scope", "passes"), [("function", False), ("session", True)])
def test_a_shared_engine_needs_one_loop_for_the_whole_run(
    tmp_path: Path, server_url: str, test_loop_scope: str, passes: bool
) -> None:
    result = _run_suite(tmp_path, server_url, test_loop_scope)
    output = result.stdout + result.stderr
    if passes:
        assert result.returncode == 0, output
        assert "2 passed" in output
    else:
        # The first test opened the pooled connection on its loop; the second, on a new loop, cannot use it.
        assert "1 failed, 1 passed" in output, output
        assert "FAILED test_suite.py::test_second" in output
        assert "attached to a different loop" in output


def test_the_project_runs_every_test_and_fixture_on_the_session_loop(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.getini("asyncio_default_fixture_loop_scope") == "session"
    assert pytestconfig.getini("asyncio_default_test_loop_scope") == "session"


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def test_a_session_fixture_and_a_test_share_their_loop(
    session_loop: asyncio.AbstractEventLoop, shared_engine: AsyncEngine
) -> None:
    assert asyncio.get_running_loop() is session_loop
    async with shared_engine.connect() as conn:  # the session-scoped engine of tests/conftest.py, used again
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
