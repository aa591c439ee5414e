"""Fixtures of the reliability suite: a leak guard per test, and a summary of what every test measured."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.support.processes import (
    IDLE_TIMEOUT_MS,
    ROOT,
    STATEMENT_TIMEOUT_MS,
    LeakGuard,
    conninfo,
    query,
    secrets_of,
)


@pytest.fixture
def guard(database_url: str) -> LeakGuard:
    """Fails the test on any response body or server log that shows a traceback, SQL, the DSN or its password."""
    return LeakGuard(secrets=secrets_of(database_url))


@pytest.fixture
def app_role_url(database_url: str, guard: LeakGuard) -> Iterator[str]:
    """``deploy/app-role.sql`` (run by psql) on the test's database: a URL of the new role, with its password.

    The role's password and URL are secrets the guard looks for; the role is dropped afterwards.
    """
    role = f"svc_app_{uuid.uuid4().hex[:8]}"
    password = f"pw-{uuid.uuid4().hex}"
    guard.secrets.append(password)
    subprocess.run(
        [
            "psql", conninfo(database_url), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-v", f"app_role={role}", "-v", f"app_password={password}",
            "-v", f"statement_timeout={STATEMENT_TIMEOUT_MS}ms",
            "-v", f"idle_in_transaction_timeout={IDLE_TIMEOUT_MS}ms",
            "-f", str(ROOT / "deploy" / "app-role.sql"),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    url = make_url(database_url).set(username=role, password=password).render_as_string(hide_password=False)
    guard.secrets.append(url)
    try:
        yield url
    finally:
        query(database_url, f'DROP OWNED BY "{role}"')
        query(database_url, f'DROP ROLE "{role}"')


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per test with the numbers it measured (``harness.report``), pass or fail.

    tests/deploy's conftest registers this same hook: the section is written once when both directories run.
    """
    if getattr(terminalreporter, "_measurements_written", False):
        return
    terminalreporter._measurements_written = True
    lines = [
        f"{report.nodeid} [{'xfailed' if hasattr(report, 'wasxfail') else report.outcome}]: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for key, value in getattr(report, "user_properties", ())
        if key == "measured"
    ]
    if lines:
        terminalreporter.section("reliability measurements")
        for line in lines:
            terminalreporter.write_line(line)
