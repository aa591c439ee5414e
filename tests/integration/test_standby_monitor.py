"""The standby monitor's sample on real connections: a standby that refuses, and a "standby" that is a primary,
are both left unread, and each problem is logged once, not at every sample."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import make_async_engine
from service.db.read_only import autocommit
from service.replication._async.router import ReadRouter
from service.replication.tokens import BadConsistencyToken, format_token, parse_token
from tests.support.servers import free_port


async def test_unusable_standbys_are_skipped_and_reported_once(
    engine: AsyncEngine, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = make_async_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/none", connect_args={"timeout": 2})
    not_a_standby = make_async_engine(database_url)
    router = ReadRouter(
        autocommit(engine),
        [refusing, not_a_standby],
        [autocommit(refusing.sync_engine), autocommit(not_a_standby.sync_engine)],
        ["refusing", "primary-as-standby"],
        max_lag=5.0,
    )
    try:
        with caplog.at_level(logging.WARNING, logger="service.replication"):
            for _ in range(3):
                await router.sample()
        assert [s.up for s in router.state.standbys] == [False, False]
        assert router.state.choose(None) == (None, "down")
        warnings = [r.getMessage() for r in caplog.records if r.name.startswith("service.replication")]
        assert len(warnings) == 2, warnings
        assert any("standby refusing is down" in w for w in warnings)
        assert any("standby primary-as-standby is not in recovery" in w for w in warnings)
        assert router.state.primary_lsn > 0
    finally:
        await refusing.dispose()
        await not_a_standby.dispose()


async def test_a_commit_token_is_checked_against_the_primary(engine: AsyncEngine) -> None:
    router = ReadRouter(autocommit(engine), [], [], [], max_lag=5.0)
    token = await router.commit_token()
    lsn = parse_token(token)
    assert lsn is not None
    assert await router.check_token(token) == lsn
    assert await router.check_token(None) is None
    with pytest.raises(BadConsistencyToken, match="has not reached"):
        await router.check_token(format_token(lsn + (1 << 40)))
