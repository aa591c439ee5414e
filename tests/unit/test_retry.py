"""RetryPolicy, is_retryable and both run_with_retry loops (async source and generated sync twin), with fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from service.errors import Conflict
from service.retry import RetryPolicy, is_retryable
from service.usecases._async.transaction import run_with_retry as async_run_with_retry
from service.usecases._sync.transaction import run_with_retry as sync_run_with_retry

SAMPLES = 2000


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 7, 12])
def test_delay_is_full_jitter_under_the_capped_exponential(attempt: int) -> None:
    policy = RetryPolicy(attempts=20, base_delay=0.01, max_delay=0.2)
    bound = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))

    samples = [policy.delay(attempt) for _ in range(SAMPLES)]

    assert all(0.0 <= s <= bound for s in samples)
    assert len(set(samples)) > SAMPLES // 2  # jitter: not one fixed value
    assert max(samples) > 0.9 * bound  # the whole range is used, not a fraction of it
    assert min(samples) < 0.1 * bound


class FakePgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def dbapi_error(sqlstate: str | None, cls: type[DBAPIError] = DBAPIError) -> DBAPIError:
    return cls("UPDATE products SET stock = 1", {}, FakePgError(sqlstate))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (StaleDataError("0 rows matched"), True),
        (dbapi_error("40001"), True),  # serialization_failure
        (dbapi_error("40P01"), True),  # deadlock_detected
        (dbapi_error("23505", IntegrityError), False),
        (dbapi_error("57014"), False),
        (dbapi_error(None), False),
        (ValueError("40001"), False),
        (Conflict("conflict"), False),
    ],
    ids=["stale", "40001", "40P01", "unique", "canceled", "no-sqlstate", "value-error", "domain"],
)
def test_is_retryable(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


# -- run_with_retry ------------------------------------------------------------------------------------------


class Calls:
    def __init__(self) -> None:
        self.commits = 0
        self.rollbacks = 0
        self.expunges = 0
        self.retried_count = 0
        self.gave_up_count = 0

    # the RetryObserver protocol
    def retried(self) -> None:
        self.retried_count += 1

    def gave_up(self) -> None:
        self.gave_up_count += 1

    def expunge_all(self) -> None:
        self.expunges += 1


class AsyncFakeSession(Calls):
    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        self.rollbacks += 1


class SyncFakeSession(Calls):
    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1


NO_WAIT = RetryPolicy(attempts=4, base_delay=0.0, max_delay=0.0)


async def run(kind: str, body: Callable[[bool], Any], policy: RetryPolicy = NO_WAIT) -> tuple[Calls, Any]:
    """Run ``body`` as the unit of work through one of the two loops; the fake is also the observer.

    Returns the fake and the result, or the exception the loop raised.
    """
    if kind == "async":
        session: Calls = AsyncFakeSession()

        async def work(lock: bool) -> Any:
            return body(lock)

        try:
            return session, await async_run_with_retry(session, work, policy, session)  # type: ignore[arg-type]
        except Exception as exc:
            return session, exc
    session = SyncFakeSession()
    try:
        return session, sync_run_with_retry(session, body, policy, session)  # type: ignore[arg-type]
    except Exception as exc:
        return session, exc


class Failing:
    """A unit of work that raises ``error()`` on its first ``times`` calls, then returns the call count."""

    def __init__(self, times: int, error: Callable[[], BaseException] = lambda: StaleDataError("lost")) -> None:
        self.times = times
        self.error = error
        self.locks: list[bool] = []  # the argument of each call: read FOR UPDATE or not

    def __call__(self, lock: bool) -> int:
        self.locks.append(lock)
        if len(self.locks) <= self.times:
            raise self.error()
        return len(self.locks)


KINDS = ["async", "sync"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("losses", [0, 1, 3])
async def test_succeeds_after_k_retries(kind: str, losses: int) -> None:
    work = Failing(losses)
    calls, result = await run(kind, work)

    assert result == losses + 1  # the work ran once per attempt
    assert calls.commits == 1
    assert calls.rollbacks == losses
    assert calls.expunges == losses
    assert calls.retried_count == losses
    assert calls.gave_up_count == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("lock_on_retry", "expected"), [(True, [False, True, True]), (False, [False] * 3)])
async def test_retries_lock_rows_only_when_the_policy_says_so(
    kind: str, lock_on_retry: bool, expected: list[bool]
) -> None:
    work = Failing(2)
    policy = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0, lock_on_retry=lock_on_retry)

    calls, result = await run(kind, work, policy)

    # ``run`` hands back the loop's exception as its result: the third attempt must have succeeded, not raised.
    assert not isinstance(result, BaseException), repr(result)
    assert result == 3
    assert (calls.commits, calls.rollbacks, calls.retried_count) == (1, 2, 2)
    assert work.locks == expected


@pytest.mark.parametrize("kind", KINDS)
async def test_deadlock_is_retried_too(kind: str) -> None:
    calls, result = await run(kind, Failing(2, lambda: dbapi_error("40P01")))

    assert result == 3
    assert calls.rollbacks == 2
    assert calls.retried_count == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("attempts", [1, 3])
async def test_gives_up_with_conflict_after_all_attempts(kind: str, attempts: int) -> None:
    work = Failing(attempts + 10)
    policy = RetryPolicy(attempts=attempts, base_delay=0.0, max_delay=0.0)
    calls, result = await run(kind, work, policy)

    assert isinstance(result, Conflict)
    assert result.detail == "conflict"
    assert len(work.locks) == attempts
    assert calls.commits == 0
    assert calls.rollbacks == attempts
    assert calls.retried_count == attempts - 1
    assert calls.gave_up_count == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "error",
    [lambda: ValueError("boom"), lambda: Conflict("insufficient stock"), lambda: dbapi_error("23505", IntegrityError)],
    ids=["value-error", "domain-error", "integrity-error"],
)
async def test_non_retryable_error_propagates_at_once(kind: str, error: Callable[[], Exception]) -> None:
    work = Failing(1, error)
    calls, result = await run(kind, work)

    assert type(result) is type(error())
    assert str(result) == str(error())
    assert calls.commits == 0
    assert calls.rollbacks == 0
    assert calls.retried_count == 0
    assert calls.gave_up_count == 0
    assert len(work.locks) == 1
