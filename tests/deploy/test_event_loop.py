"""The async service runs on uvloop as deployed (``hypercorn.toml``), and one flag selects asyncio's loop instead."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.processes import ROOT, LeakGuard, secrets_of, serving

pytestmark = pytest.mark.slow


def _loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_hypercorn_toml_selects_uvloop() -> None:
    assert tomllib.loads((ROOT / "hypercorn.toml").read_text())["worker_class"] == "uvloop"


@pytest.mark.parametrize(("flags", "uvloop"), [((), True), (("--worker-class", "asyncio"), False)])
async def test_the_served_app_runs_on_the_configured_loop(
    flags: tuple[str, ...], uvloop: bool, database_url: str, tmp_path: Path
) -> None:
    guard = LeakGuard(secrets=secrets_of(database_url))
    with serving("quart", {"DATABASE_URL": database_url}, tmp_path, guard, extra=flags) as server:
        async with guard.client(server.base_url) as client:
            assert (await client.get("/ready")).status_code == 200
        # uvloop's event loop is a compiled extension: it is mapped into the server only when Hypercorn uses it.
        assert ("uvloop/loop." in _loaded_libraries(server.pid)) is uvloop
    # The entry point names the loop it built: uvloop's is the one that accepts a burst at once.
    assert f"serving on {'GreedyAcceptLoop' if uvloop else '_UnixSelectorEventLoop'}" in server.log()
