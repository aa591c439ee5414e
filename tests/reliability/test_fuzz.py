"""Schemathesis against the contract's /openapi.json, on both apps: every check, a few hundred examples per operation.

The twin serves no schema of its own: it is fuzzed with the async app's (the same contract), pointed at its URL.
One run per app (a fixed seed, bounded by a timeout) feeds the tests below, which read its JSON report and its HAR
log (every request and response). What the failure codes mean: ``schemathesis explain ST101``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from service.quart_app import create_app
from tests.conftest import clone_database, drop_database, make_settings
from tests.support.processes import BIN, LeakGuard, find_leaks, report, secrets_of, serving

pytest.importorskip("schemathesis", reason="schemathesis is a dev dependency (pip install schemathesis)")
pytestmark = pytest.mark.slow

MAX_EXAMPLES = 200
SEED = 20260101
RUN_TIMEOUT = 240
SERVER_ERRORS = {"ST101", "ST102"}
# Content type, headers, body against the documented schema, malformed JSON, discriminator.
RESPONSE_SCHEMA_VIOLATIONS = {"ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111"}
# Operations Schemathesis stops testing after 10 consecutive 405s: PATCH /users/0 is answered 405 (see below).
ID_ZERO_405_OPERATIONS = {"PATCH /users/{user_id}", "PATCH /products/{product_id}"}


@dataclass
class FuzzRun:
    exit_code: int
    summary: dict[str, Any]
    failures: dict[str, set[str]] = field(default_factory=dict)  # code -> operations
    responses: int = 0
    problem_leaks: list[str] = field(default_factory=list)
    output: str = ""


async def _schema(path: Path) -> Path:
    """The async app's /openapi.json, built in-process (no database needed)."""
    app = create_app(make_settings("postgresql://unused@127.0.0.1:9/unused"))
    response = await app.test_client().get("/openapi.json")
    await asyncio.to_thread(path.write_bytes, await response.get_data())
    return path


def _fuzz(schema: Path, base_url: str, reports: Path) -> FuzzRun:
    command = [
        str(BIN / "schemathesis"), "run", str(schema), "--url", base_url,
        "--checks", "all", "--max-examples", str(MAX_EXAMPLES), "--continue-on-failure",
        "--seed", str(SEED), "--generation-database", "none", "--no-shrink",
        "--workers", "2", "--request-timeout", "10", "--no-color",
        "--report", "json,har", "--report-json-path", str(reports / "run.json"),
        "--report-har-path", str(reports / "run.har"),
    ]  # fmt: skip
    # Run in the report directory, with Schemathesis's cache of earlier runs off: each run starts from scratch, and
    # neither its cache nor Hypothesis's examples land in the repository.
    (reports / "schemathesis.toml").write_text("[cache]\nenabled = false\n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=reports)
    summary = json.loads((reports / "run.json").read_text())
    run = FuzzRun(done.returncode, summary, output=done.stdout[-6000:])
    for failure in summary["failures"]:
        run.failures.setdefault(failure["code"], set()).update(failure["operations"])
    entries = json.loads((reports / "run.har").read_text())["log"]["entries"]
    run.responses = len(entries)
    return run


@pytest.fixture(scope="module")
async def fuzzed(
    server_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[[str], Awaitable[FuzzRun]]]:
    """One fuzzing run per app on a database of its own, shared by the tests of this module."""
    runs: dict[str, FuzzRun] = {}
    schema = await _schema(tmp_path_factory.mktemp("openapi") / "openapi.json")

    async def run(kind: str) -> FuzzRun:
        if kind in runs:
            return runs[kind]
        database_url = clone_database(server_url, template_url)
        workdir = tmp_path_factory.mktemp(f"fuzz-{kind}")
        guard = LeakGuard(secrets=secrets_of(database_url))
        try:
            with serving(kind, {"DATABASE_URL": database_url}, workdir, guard) as server:
                runs[kind] = _fuzz(schema, server.base_url, workdir)
            entries = json.loads((workdir / "run.har").read_text())["log"]["entries"]
            runs[kind].problem_leaks = sorted(
                {
                    leak
                    for entry in entries
                    if "problem+json" in entry["response"]["content"].get("mimeType", "")
                    for leak in find_leaks(entry["response"]["content"].get("text", ""), guard.secrets)
                }
            )
        finally:
            drop_database(server_url, database_url)
        return runs[kind]

    return run


def _codes(run: FuzzRun, codes: set[str]) -> dict[str, list[str]]:
    return {code: sorted(ops) for code, ops in run.failures.items() if code in codes}


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_finds_no_server_error_but_the_known_one(
    request: pytest.FixtureRequest, kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """Every 5xx the fuzzer provokes is the page-overflow bug below: no other one, on any operation."""
    run = await fuzzed(kind)
    report(
        request,
        test_cases=run.summary["test_cases"]["generated"],
        responses=run.responses,
        operations_tested=run.summary["operations"]["tested"],
        skipped_after_405=run.summary["warnings"]["method_not_allowed"],
        failures={code: len(ops) for code, ops in sorted(run.failures.items())},
        server_errors=_codes(run, SERVER_ERRORS),
        errors=len(run.summary["errors"]),
    )
    assert run.summary["complete"], run.output
    assert run.summary["operations"]["selected"] == 18
    assert set(run.summary["warnings"]["method_not_allowed"]) <= ID_ZERO_405_OPERATIONS
    assert run.summary["errors"] == [], run.output
    assert "ST102" not in run.failures
    assert "ST101" not in run.failures, run.output


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_finds_no_server_error(kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]) -> None:
    run = await fuzzed(kind)
    assert _codes(run, SERVER_ERRORS) == {}


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_finds_no_response_schema_violation_nor_leak(
    request: pytest.FixtureRequest, kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """Content types, headers and bodies conform to what the schema documents; no error body leaks anything."""
    run = await fuzzed(kind)
    report(request, violations=_codes(run, RESPONSE_SCHEMA_VIOLATIONS), problem_leaks=run.problem_leaks)
    assert _codes(run, RESPONSE_SCHEMA_VIOLATIONS) == {}
    assert run.problem_leaks == []


SCHEMA_INCOMPLETE = pytest.mark.xfail(
    strict=True,
    reason="/openapi.json documents no responses at all (ST103 on every operation) and its request schemas are "
    "looser than the validation: schema-valid requests are refused (ST202: e-mail format, ids of 0, surrogates); "
    "PATCH/DELETE /users/0 answer 405 (Allow: GET, ...) where GET answers 404, so the PATCH operations are skipped",
)


@pytest.mark.parametrize("kind", ["quart", "flask"])
@SCHEMA_INCOMPLETE
async def test_fuzzing_passes_every_check(kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]) -> None:
    run = await fuzzed(kind)
    assert run.summary["warnings"]["method_not_allowed"] == [], "operations left untested"
    assert run.failures == {}, run.output
