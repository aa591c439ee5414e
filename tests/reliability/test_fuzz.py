"""Schemathesis against the contract's /openapi.json, on both apps: every check, a few hundred examples per operation.

The twin serves no schema of its own: it is fuzzed with the async app's (the same contract), pointed at its URL.
One run per app (a fixed seed, bounded by a timeout) feeds the tests below, which read its JSON report and its HAR
log (every request and response). What the failure codes mean: ``schemathesis explain ST101``.

The document says everything the checks need but three rules no schema can state (API.md): a ``user_id`` that names
no live user is a 422, an ``If-Match`` naming another version is a 412, and a read's ``X-Consistency-Token`` ahead of
the primary is a 400. :data:`SCHEMATHESIS_TOML` lets exactly those operations answer so to schema-valid requests,
and the HAR tests below check that only those rules did.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import schemathesis  # noqa: F401  (the CLI run below is this package's: missing, collection fails, nothing skips)

from service.api.headers import parse_if_match
from service.errors import PreconditionFailed
from service.quart_app import create_app
from service.replication.tokens import HEADER, TOKEN_PATTERN, parse_token
from tests.conftest import clone_database, drop_database, make_settings
from tests.support.openapi import as_draft4
from tests.support.processes import BIN, LeakGuard, find_leaks, report, secrets_of, serving

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 200
SEED = 20260101
RUN_TIMEOUT = 240
SERVER_ERRORS = {"ST101", "ST102"}
# Status code, content type, headers, body against the documented schema, malformed JSON, discriminator.
RESPONSE_SCHEMA_VIOLATIONS = {"ST103", "ST104", "ST105", "ST106", "ST107", "ST108", "ST109", "ST110", "ST111"}
OPERATIONS = 18
# What the contract answers to schema-valid input (a 5xx is ST101's to report) and to schema-violating input (413:
# a body over the limit, such as a bulk body of 10,001 long rows, is refused before it is parsed). Narrower than
# Schemathesis's defaults, which also take 401, 403, 405, 429... that this API never has a reason to answer.
SCHEMATHESIS_TOML = """
[cache]
enabled = false

# Its default hides every header named like "token" in the HAR log; X-Consistency-Token is no secret, and the tests
# below read it. The servers run without a password: there is nothing else to hide.
[output.sanitization]
enabled = false

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "404", "409", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "404", "413", "415", "422", "5xx"]

[[operations]]
include-name = "POST /notifications"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "422", "5xx"]

[[operations]]
include-name = "PATCH /products/{product_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "409", "412", "5xx"]

[[operations]]
include-method = "GET"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409", "5xx"]
"""
NO_SUCH_USER = "user_id does not name a live user"


@dataclass
class FuzzRun:
    exit_code: int
    summary: dict[str, Any]
    failures: dict[str, set[str]] = field(default_factory=dict)  # code -> operations
    entries: list[dict[str, Any]] = field(default_factory=list)  # the HAR log: every request and its response
    problem_leaks: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def responses(self) -> int:
        return len(self.entries)

    def exchanges(self, method: str, path: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(request, response) of every exchange of ``method`` on ``path`` (a regex of the URL's path)."""
        pattern = re.compile(path)
        return [
            (entry["request"], entry["response"])
            for entry in self.entries
            if entry["request"]["method"] == method and pattern.fullmatch(urlsplit(entry["request"]["url"]).path)
        ]


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
        "--workers", "1", "--request-timeout", "10", "--no-color",
        "--report", "json,har", "--report-json-path", str(reports / "run.json"),
        "--report-har-path", str(reports / "run.har"),
    ]  # fmt: skip
    # One worker: with two threads, Hypothesis describing a rejected filter now and then parses source in both at
    # once, and CPython 3.11's AST builder is not thread-safe there (gh-106905, "AST constructor recursion depth
    # mismatch", an error of the run rather than a finding). It costs about half the run's speed.
    # Run in the report directory, with Schemathesis's cache of earlier runs off: each run starts from scratch, and
    # neither its cache nor Hypothesis's examples land in the repository.
    (reports / "schemathesis.toml").write_text(SCHEMATHESIS_TOML)
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=reports)
    (reports / "run.txt").write_text(done.stdout + done.stderr)  # the whole report, kept with the others
    summary = json.loads((reports / "run.json").read_text())
    entries = json.loads((reports / "run.har").read_text())["log"]["entries"]
    run = FuzzRun(done.returncode, summary, entries=entries, output=done.stdout[-6000:])
    for failure in summary["failures"]:
        run.failures.setdefault(failure["code"], set()).update(failure["operations"])
    return run


@pytest.fixture(scope="module")
async def schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await _schema(tmp_path_factory.mktemp("openapi") / "openapi.json")


@pytest.fixture(scope="module")
def document(schema: Path) -> dict[str, Any]:
    """The document both apps were fuzzed with."""
    return dict(json.loads(schema.read_text()))


@pytest.fixture(scope="module")
async def fuzzed(
    server_url: str, template_url: str, schema: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[[str], Awaitable[FuzzRun]]]:
    """One fuzzing run per app on a database of its own, shared by the tests of this module."""
    runs: dict[str, FuzzRun] = {}

    async def run(kind: str) -> FuzzRun:
        if kind in runs:
            return runs[kind]
        database_url = clone_database(server_url, template_url)
        workdir = tmp_path_factory.mktemp(f"fuzz-{kind}")
        guard = LeakGuard(secrets=secrets_of(database_url))
        try:
            with serving(kind, {"DATABASE_URL": database_url}, workdir, guard) as server:
                runs[kind] = _fuzz(schema, server.base_url, workdir)
            runs[kind].problem_leaks = sorted(
                {
                    leak
                    for entry in runs[kind].entries
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
async def test_fuzzing_covers_every_operation(
    request: pytest.FixtureRequest, document: dict[str, Any], kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """The run completed and tested every operation of the document, each of which accepted some of the data."""
    run = await fuzzed(kind)
    unaccepted = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if not any(
            200 <= response["status"] < 300
            for _, response in run.exchanges(method.upper(), re.sub(r"\{[a-z_]+\}", "[0-9]+", path))
        )
    ]
    report(
        request,
        test_cases=run.summary["test_cases"]["generated"],
        responses=run.responses,
        operations_tested=run.summary["operations"]["tested"],
        skipped_after_405=run.summary["warnings"]["method_not_allowed"],
        failures={code: len(ops) for code, ops in sorted(run.failures.items())},
        errors=len(run.summary["errors"]),
    )
    assert run.summary["complete"], run.output
    assert run.summary["operations"]["selected"] == run.summary["operations"]["tested"] == OPERATIONS
    assert run.summary["warnings"]["method_not_allowed"] == [], "operations left untested"
    assert run.summary["errors"] == [], run.output
    assert run.responses >= OPERATIONS * MAX_EXAMPLES / 2
    assert unaccepted == [], "operations that never answered 2xx"


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_finds_no_server_error(kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]) -> None:
    run = await fuzzed(kind)
    assert _codes(run, SERVER_ERRORS) == {}, run.output
    assert not [entry for entry in run.entries if entry["response"]["status"] >= 500]


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_finds_no_response_schema_violation_nor_leak(
    request: pytest.FixtureRequest, kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """Status codes, content types, headers and bodies are the documented ones; no error body leaks anything."""
    run = await fuzzed(kind)
    report(request, violations=_codes(run, RESPONSE_SCHEMA_VIOLATIONS), problem_leaks=run.problem_leaks)
    assert _codes(run, RESPONSE_SCHEMA_VIOLATIONS) == {}, run.output
    assert run.problem_leaks == []


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_fuzzing_passes_every_check(kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]) -> None:
    """Every check of ``--checks all``: schema-valid data accepted, schema-violating data refused, and the rest."""
    run = await fuzzed(kind)
    assert run.failures == {}, run.output
    assert run.exit_code == 0, run.output


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_schema_valid_notifications_are_refused_only_for_an_unknown_user(
    request: pytest.FixtureRequest, document: dict[str, Any], kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """The 422s that SCHEMATHESIS_TOML lets POST /notifications answer to valid bodies: only "no such user"."""
    run = await fuzzed(kind)
    valid = documented(document, "NotificationCreate")
    refused = [
        (body, problem)
        for req, response in run.exchanges("POST", "/notifications")
        if response["status"] == 422
        for body, problem in [(_json_body(req), json.loads(response["content"]["text"]))]
        if body is not None and valid.is_valid(body)
    ]
    report(request, schema_valid_refused=len(refused))
    assert refused, "no schema-valid notification was refused: the run never named a missing user"
    assert [problem for _, problem in refused if problem["detail"] != NO_SUCH_USER] == []
    assert all(isinstance(body.get("user_id"), int) for body, _ in refused)


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_precondition_failures_come_from_if_match_only(
    request: pytest.FixtureRequest, kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """The 412s that SCHEMATHESIS_TOML lets PATCH /products/{id} answer: each If-Match named no current version."""
    run = await fuzzed(kind)
    failed = [
        (req, json.loads(response["content"]["text"])["detail"])
        for req, response in run.exchanges("PATCH", r"/products/[^/]+")
        if response["status"] == 412
    ]
    report(request, precondition_failed=len(failed))
    assert failed, "the run never sent an If-Match that failed"
    for req, detail in failed:
        (if_match,) = [header["value"] for header in req["headers"] if header["name"].lower() == "if-match"]
        try:
            version = parse_if_match(if_match)
        except PreconditionFailed:
            continue  # no strong version tag: it can match nothing
        assert version is not None, f"If-Match {if_match!r} matches any version, yet 412"
        assert detail.endswith(f", not {version}"), detail


@pytest.mark.parametrize("kind", ["quart", "flask"])
async def test_reads_are_refused_only_for_a_token_ahead_of_the_primary(
    request: pytest.FixtureRequest, kind: str, fuzzed: Callable[[str], Awaitable[FuzzRun]]
) -> None:
    """The 400s that SCHEMATHESIS_TOML lets reads answer to valid requests: those for a well-formed
    X-Consistency-Token are for one past every token the run's writes were given (fuzzed tokens run to 16 hex
    digits: far past any primary here)."""
    run = await fuzzed(kind)
    issued = [
        parse_token(value)
        for method in ("POST", "PATCH", "DELETE")
        for _, response in run.exchanges(method, r".*")
        for value in [_header(response, HEADER)]
        if value is not None
    ]
    refused = [
        (token, json.loads(response["content"]["text"])["detail"])
        for req, response in run.exchanges("GET", r".*")
        if response["status"] == 400
        for token in [_header(req, HEADER)]
        if token is not None and re.fullmatch(TOKEN_PATTERN, token)
    ]
    report(request, tokens_issued=len(issued), refused_with_a_token=len(refused))
    assert issued, "no write of the run got a token"
    # A 400 for a well-formed token's sake names it, and the token is past every one the run was given.
    for_token = [(token, detail) for token, detail in refused if HEADER in detail]
    assert for_token, "the run never sent a well-formed token ahead of the primary"
    for token, detail in for_token:
        assert detail == "X-Consistency-Token names a point the primary has not reached", (token, detail)
        assert (parse_token(token) or 0) > max(lsn or 0 for lsn in issued), token


def _header(message: dict[str, Any], name: str) -> str | None:
    return next((h["value"] for h in message["headers"] if h["name"].lower() == name.lower()), None)


def documented(document: dict[str, Any], component: str) -> Any:
    """A validator of ``component`` as Schemathesis reads the document (draft 4, with 3.0's ``nullable``)."""
    return jsonschema_rs.Draft4Validator(
        {"$ref": f"#/components/schemas/{component}", "components": as_draft4(document["components"])}
    )


def _json_body(req: dict[str, Any]) -> Any:
    text = req.get("postData", {}).get("text")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
