"""Which standby a read goes to, and why it goes to the primary instead (:mod:`service.replication.standbys`)."""

from __future__ import annotations

import math

import pytest

from service.replication.standbys import BEHIND_TOKEN, DOWN, LAGGING, Standbys
from service.replication.tokens import BadConsistencyToken, format_token, parse_lsn, parse_token


def test_tokens_round_trip_and_lsns_parse_as_postgresql_prints_them() -> None:
    for lsn in (0, 1, 0x16B3748, (0x16 << 32) | 0xB374D848, 2**64 - 1):
        assert parse_token(format_token(lsn)) == lsn
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("0/0") == 0
    assert parse_token(None) is None
    for bad in ("", "1.", "1.g", "v1.10", "1.10x", "1.1" + "0" * 16):
        with pytest.raises(BadConsistencyToken):
            parse_token(bad)
    with pytest.raises(ValueError, match="not a WAL position"):
        parse_lsn("16-B374D848")


def _up(names: int = 2, max_lag: float = 5.0, replay: int = 100, now: float = 0.0) -> Standbys:
    state = Standbys([f"s{i}" for i in range(names)], max_lag)
    state.observe_primary(replay, now)
    for index in range(names):
        state.observe_standby(index, replay, now)
    return state


def test_a_standby_is_unused_until_its_first_sample() -> None:
    state = Standbys(["s0"], 5.0)
    assert state.choose(None) == (None, DOWN)
    state.observe_primary(10, 0.0)
    state.observe_standby(0, 10, 0.0)
    assert state.choose(None) == (0, None)


def test_reads_go_round_robin_over_usable_standbys() -> None:
    state = _up(3)
    assert [state.choose(None)[0] for _ in range(6)] == [0, 1, 2, 0, 1, 2]
    state.mark_down(1)
    assert [state.choose(None)[0] for _ in range(4)] == [0, 2, 0, 2]


def test_a_token_goes_only_where_it_has_been_replayed() -> None:
    state = _up(2, replay=100)
    state.observe_primary(200, 1.0)
    state.observe_standby(1, 200, 1.0)
    assert {state.choose(200)[0] for _ in range(4)} == {1}
    assert state.choose(100)[0] is not None
    state.observe_primary(300, 1.5)
    assert state.choose(300) == (None, BEHIND_TOKEN)


def test_lag_is_the_age_of_the_oldest_primary_position_not_replayed() -> None:
    state = _up(1, max_lag=5.0, replay=100, now=0.0)
    state.observe_primary(150, 10.0)
    state.observe_primary(180, 12.0)
    state.observe_standby(0, 100, 13.0)  # missing what the primary had at 10.0
    assert state.standbys[0].lag == pytest.approx(3.0)
    state.observe_standby(0, 160, 16.0)  # has 150, still missing 180 (since 12.0)
    assert state.standbys[0].lag == pytest.approx(4.0)
    state.observe_standby(0, 100, 17.5)  # a replay position never goes back: a late sample changes nothing
    assert state.standbys[0].replay_lsn == 160
    assert state.standbys[0].lag == pytest.approx(5.5)
    assert state.choose(None) == (None, LAGGING)
    state.observe_standby(0, 180, 18.0)
    assert state.standbys[0].lag == 0.0
    assert state.choose(None) == (0, None)


def test_an_idle_primary_does_not_make_a_standby_lag() -> None:
    state = _up(1, replay=100, now=0.0)
    state.observe_primary(100, 3600.0)
    state.observe_standby(0, 100, 3600.0)
    assert state.standbys[0].lag == 0.0


def test_a_standby_that_is_no_longer_in_recovery_is_down() -> None:
    state = _up(1)
    state.observe_standby(0, None, 1.0)
    assert state.standbys[0].up is False
    assert math.isinf(state.standbys[0].lag)
    assert state.choose(None) == (None, DOWN)


def test_the_primary_is_known_to_have_reached_what_was_observed() -> None:
    state = Standbys([], 5.0)
    assert state.knows(0)
    assert not state.knows(1)
    state.observe_primary(500, 0.0)
    state.observe_primary(400, 1.0)  # an older sample arriving late does not move it back
    assert state.knows(500)
    assert not state.knows(501)
    assert state.choose(None) == (None, DOWN)
