"""``python -m bench inserts``: every way to load N users, on both stacks, against the seed's claims.

The seed (``flask-sqlalchemy-patterns.txt``, "Bulk operations") claims, for 10,000 rows on PostgreSQL: individual
adds ~8 s, ``bulk_save_objects`` ~1.5 s, Core ``insert()`` ~0.3 s, Core with ``executemany_mode='values_plus_batch'``
~0.1 s. This command measures, in one process and on one scratch database, each of those paths on the async stack
(SQLAlchemy asyncio + asyncpg) and on the sync twin's (SQLAlchemy + psycopg 3), the service's own bulk path
(``register_users`` → ``UserRepository.add_many`` → ``COPY``), and the raw drivers' limits. Every method writes the
same rows (email, name, role, is_active, created_at, updated_at) and its time includes its commit.

``executemany_mode='values_plus_batch'`` is a psycopg2 option; SQLAlchemy 2.x replaced it with "insertmanyvalues",
on by default for psycopg 3 and asyncpg (an executemany of an INSERT is sent as multi-row ``INSERT ... VALUES``
pages of ``insertmanyvalues_page_size`` rows, 1000 by default): "Core executemany" below *is* that mode today.

The scratch database is created on the server of ``DATABASE_URL`` (or ``--database-url``), migrated with
``alembic upgrade head``, truncated (``RESTART IDENTITY``) before every run and dropped at the end: the database
named in the URL is never written to. Results: a table on stdout, ``<out>.json`` and ``<out>.png`` (the chart needs
matplotlib, which is optional).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from service.config import load_settings
from service.db.engine import (
    async_engine_options,
    make_async_engine,
    make_sync_engine,
    sync_engine_options,
    sync_url,
)
from service.db.mixins import utcnow
from service.db.models import User
from service.schemas import UserCreate, UsersBulk

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("email", "name", "role", "is_active", "created_at", "updated_at")
INSERT_SQL_ASYNCPG = f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6)"
INSERT_SQL_PSYCOPG = f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
# PostgreSQL's protocol counts bind parameters in 16 bits and asyncpg refuses more than 32767: a single
# insert().values(list) is split to stay below that (as insertmanyvalues does with its own pages).
MAX_PARAMETERS = 32_000
BASELINE = "raw asyncpg COPY"
SYNC_BASELINE = "raw psycopg COPY (binary)"
SERVICE_PATH = "service bulk path (register_users → COPY)"
GOAL_RATIO = 1.5

# The seed's figures, for 10,000 rows, keyed by the method that does what the seed's code does today.
CLAIM_INDIVIDUAL = ("individual adds", 8.0)
CLAIM_BULK_SAVE = ("bulk_save_objects", 1.5)
CLAIM_CORE = ("Core insert()", 0.3)
CLAIM_VALUES_PLUS_BATCH = ("values_plus_batch", 0.1)
NOTE = """\
Seed's claims: "individual adds" is its loop of session.add() + one commit; its "Core insert()" was a plain
DBAPI executemany (here: use_insertmanyvalues=False); executemany_mode='values_plus_batch' is a psycopg2-only
option whose SQLAlchemy 2.x equivalent is "insertmanyvalues" -- on by default for psycopg 3 and asyncpg and tuned
with insertmanyvalues_page_size (rows per multi-row INSERT, default 1000)."""


# -- data ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    """One batch in every shape a method starts from (built before the clock starts)."""

    dicts: list[dict[str, Any]]
    payload: list[dict[str, Any]]
    models: list[UserCreate]
    tuples: list[tuple[Any, ...]]

    @classmethod
    def build(cls, rows: int) -> Data:
        """``rows`` users as dicts (ORM/Core), raw JSON (validation), ``UserCreate`` (use case), tuples (drivers)."""
        dicts = [{"email": f"user{i:07d}@bench.example", "name": f"Bench User {i}"} for i in range(rows)]
        now = utcnow()
        return cls(
            dicts=dicts,
            payload=[dict(row) for row in dicts],
            models=[UserCreate(**row) for row in dicts],
            tuples=[(row["email"], row["name"], "member", True, now, now) for row in dicts],
        )


def _users() -> Table:
    table: Table = User.__table__  # type: ignore[assignment]
    return table


# -- methods -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AsyncStack:
    """What the async methods run on: the service's engine options, a session factory, a raw asyncpg connection."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    plain_executemany: AsyncEngine  # use_insertmanyvalues=False: the driver's own executemany
    driver: Any = None  # a dedicated asyncpg connection for the raw methods


@dataclass(slots=True)
class SyncStack:
    """What the sync methods run on: the twin's engine options (psycopg 3), sessions, a raw psycopg connection."""

    engine: Engine
    sessions: sessionmaker[Session]
    plain_executemany: Engine  # use_insertmanyvalues=False: the driver's own executemany
    driver: Any = None  # a dedicated psycopg connection (autocommit) for the raw methods


AsyncRun = Callable[[AsyncStack, Data], Awaitable[None]]
SyncRun = Callable[[SyncStack, Data], None]


@dataclass(frozen=True, slots=True)
class Method:
    """One way to insert the batch: its table label, its stack, the seed's claim it answers (if any)."""

    name: str
    stack: str
    run: AsyncRun | SyncRun
    is_async: bool
    claim: tuple[str, float] | None = None
    slow: bool = False  # one commit per row: --slow-rounds rounds only


async def _a_per_row_commit(s: AsyncStack, d: Data) -> None:
    async with s.sessions() as session:
        for row in d.dicts:
            session.add(User(**row))
            await session.commit()


async def _a_add_commit(s: AsyncStack, d: Data) -> None:
    async with s.sessions() as session:
        for row in d.dicts:
            session.add(User(**row))
        await session.commit()


async def _a_add_all(s: AsyncStack, d: Data) -> None:
    async with s.sessions() as session:
        session.add_all([User(**row) for row in d.dicts])
        await session.commit()


async def _a_bulk_save_objects(s: AsyncStack, d: Data) -> None:
    async with s.sessions() as session:
        objects = [User(**row) for row in d.dicts]
        await session.run_sync(lambda sync: sync.bulk_save_objects(objects))
        await session.commit()


async def _a_orm_insert(s: AsyncStack, d: Data) -> None:
    async with s.sessions() as session:
        await session.execute(insert(User), d.dicts)
        await session.commit()


def _a_core(page_size: int | None) -> AsyncRun:
    async def run(s: AsyncStack, d: Data) -> None:
        async with s.engine.begin() as conn:
            if page_size is not None:
                await conn.execution_options(insertmanyvalues_page_size=page_size)
            await conn.execute(insert(_users()), d.dicts)

    return run


async def _a_core_plain_executemany(s: AsyncStack, d: Data) -> None:
    async with s.plain_executemany.begin() as conn:
        await conn.execute(insert(_users()), d.dicts)


async def _a_core_values(s: AsyncStack, d: Data) -> None:
    async with s.engine.begin() as conn:
        for chunk in _values_chunks(d.dicts):
            await conn.execute(insert(_users()).values(chunk))


async def _a_service(s: AsyncStack, d: Data) -> None:
    from service.usecases._async.users import register_users

    async with s.sessions() as session:
        await register_users(session, d.models)


async def _a_service_validated(s: AsyncStack, d: Data) -> None:
    from service.usecases._async.users import register_users

    async with s.sessions() as session:
        await register_users(session, UsersBulk.model_validate(d.payload).root)


async def _a_service_skip(s: AsyncStack, d: Data) -> None:
    from service.repositories._async.users import UserRepository

    async with s.sessions() as session:
        await UserRepository(session).add_many(d.dicts, on_conflict="skip")
        await session.commit()


async def _raw_asyncpg_executemany(s: AsyncStack, d: Data) -> None:
    async with s.driver.transaction():
        await s.driver.executemany(INSERT_SQL_ASYNCPG, d.tuples)


async def _raw_asyncpg_copy(s: AsyncStack, d: Data) -> None:
    async with s.driver.transaction():
        await s.driver.copy_records_to_table("users", records=d.tuples, columns=COLUMNS)


def _s_per_row_commit(s: SyncStack, d: Data) -> None:
    with s.sessions() as session:
        for row in d.dicts:
            session.add(User(**row))
            session.commit()


def _s_add_commit(s: SyncStack, d: Data) -> None:
    with s.sessions() as session:
        for row in d.dicts:
            session.add(User(**row))
        session.commit()


def _s_add_all(s: SyncStack, d: Data) -> None:
    with s.sessions() as session:
        session.add_all([User(**row) for row in d.dicts])
        session.commit()


def _s_bulk_save_objects(s: SyncStack, d: Data) -> None:
    with s.sessions() as session:
        session.bulk_save_objects([User(**row) for row in d.dicts])
        session.commit()


def _s_orm_insert(s: SyncStack, d: Data) -> None:
    with s.sessions() as session:
        session.execute(insert(User), d.dicts)
        session.commit()


def _s_core(page_size: int | None) -> SyncRun:
    def run(s: SyncStack, d: Data) -> None:
        with s.engine.begin() as conn:
            if page_size is not None:
                conn.execution_options(insertmanyvalues_page_size=page_size)
            conn.execute(insert(_users()), d.dicts)

    return run


def _s_core_plain_executemany(s: SyncStack, d: Data) -> None:
    with s.plain_executemany.begin() as conn:
        conn.execute(insert(_users()), d.dicts)


def _s_core_values(s: SyncStack, d: Data) -> None:
    with s.engine.begin() as conn:
        for chunk in _values_chunks(d.dicts):
            conn.execute(insert(_users()).values(chunk))


def _s_service(s: SyncStack, d: Data) -> None:
    from service.usecases._sync.users import register_users

    with s.sessions() as session:
        register_users(session, d.models)


def _s_service_validated(s: SyncStack, d: Data) -> None:
    from service.usecases._sync.users import register_users

    with s.sessions() as session:
        register_users(session, UsersBulk.model_validate(d.payload).root)


def _s_service_skip(s: SyncStack, d: Data) -> None:
    from service.repositories._sync.users import UserRepository

    with s.sessions() as session:
        UserRepository(session).add_many(d.dicts, on_conflict="skip")
        session.commit()


def _raw_psycopg_executemany(s: SyncStack, d: Data) -> None:
    # psycopg 3 sends an executemany in pipeline mode: no round trip per row.
    with s.driver.transaction(), s.driver.cursor() as cursor:
        cursor.executemany(INSERT_SQL_PSYCOPG, d.tuples)


def _raw_psycopg_copy(s: SyncStack, d: Data) -> None:
    with s.driver.transaction(), s.driver.cursor() as cursor:
        with cursor.copy(f"COPY users ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in d.tuples:
                copy.write_row(row)


def _raw_psycopg_copy_binary(s: SyncStack, d: Data) -> None:
    with s.driver.transaction(), s.driver.cursor() as cursor:
        with cursor.copy(f"COPY users ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["varchar", "varchar", "varchar", "bool", "timestamptz", "timestamptz"])
            for row in d.tuples:
                copy.write_row(row)


def _values_chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    size = max(1, MAX_PARAMETERS // len(COLUMNS))
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def methods() -> list[Method]:
    """Every measured method, in the order of the table."""
    a, s = "async (asyncpg)", "sync (psycopg 3)"
    return [
        Method("per-row commit", a, _a_per_row_commit, True, slow=True),
        Method("ORM add loop + one commit", a, _a_add_commit, True, CLAIM_INDIVIDUAL),
        Method("ORM add_all + commit", a, _a_add_all, True, CLAIM_INDIVIDUAL),
        Method("bulk_save_objects (legacy, run_sync)", a, _a_bulk_save_objects, True, CLAIM_BULK_SAVE),
        Method("ORM insert(User), list of dicts", a, _a_orm_insert, True),
        Method("Core executemany (use_insertmanyvalues=False)", a, _a_core_plain_executemany, True, CLAIM_CORE),
        Method("Core executemany (insertmanyvalues, page 1000)", a, _a_core(None), True, CLAIM_VALUES_PLUS_BATCH),
        Method("Core executemany (insertmanyvalues, page 5000)", a, _a_core(5000), True, CLAIM_VALUES_PLUS_BATCH),
        Method("Core insert().values(list)", a, _a_core_values, True),
        Method("service add_many(on_conflict='skip') (executemany)", a, _a_service_skip, True),
        Method(SERVICE_PATH, a, _a_service, True),
        Method("service: pydantic validation + bulk path", a, _a_service_validated, True),
        Method("per-row commit", s, _s_per_row_commit, False, slow=True),
        Method("ORM add loop + one commit", s, _s_add_commit, False, CLAIM_INDIVIDUAL),
        Method("ORM add_all + commit", s, _s_add_all, False, CLAIM_INDIVIDUAL),
        Method("bulk_save_objects (legacy)", s, _s_bulk_save_objects, False, CLAIM_BULK_SAVE),
        Method("ORM insert(User), list of dicts", s, _s_orm_insert, False),
        Method("Core executemany (use_insertmanyvalues=False)", s, _s_core_plain_executemany, False, CLAIM_CORE),
        Method("Core executemany (insertmanyvalues, page 1000)", s, _s_core(None), False, CLAIM_VALUES_PLUS_BATCH),
        Method("Core executemany (insertmanyvalues, page 5000)", s, _s_core(5000), False, CLAIM_VALUES_PLUS_BATCH),
        Method("Core insert().values(list)", s, _s_core_values, False),
        Method("service add_many(on_conflict='skip') (executemany)", s, _s_service_skip, False),
        Method(SERVICE_PATH, s, _s_service, False),
        Method("service: pydantic validation + bulk path", s, _s_service_validated, False),
        Method("raw asyncpg executemany", "raw driver", _raw_asyncpg_executemany, True),
        Method(BASELINE, "raw driver", _raw_asyncpg_copy, True),
        Method("raw psycopg executemany (pipeline)", "raw driver", _raw_psycopg_executemany, False),
        Method("raw psycopg COPY (text)", "raw driver", _raw_psycopg_copy, False),
        Method("raw psycopg COPY (binary)", "raw driver", _raw_psycopg_copy_binary, False),
    ]


# -- the scratch database -------------------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str, statement: str, database: str) -> None:
    """Run a CREATE/DROP DATABASE ``statement`` (with ``{}`` for the name) outside a transaction."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(_conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(database)))


def create_scratch(server_url: str) -> str:
    """Create and migrate ``bench_inserts_<random>`` on ``server_url``'s server; return its URL."""
    name = f"bench_inserts_{uuid.uuid4().hex[:10]}"
    _admin(server_url, "CREATE DATABASE {}", name)
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=300,
        )
    except BaseException:
        drop_scratch(server_url, url)
        raise
    return url


def drop_scratch(server_url: str, url: str) -> None:
    """Drop the scratch database (``WITH (FORCE)``: a connection left behind by a crash does not block it)."""
    _admin(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", str(make_url(url).database))


# -- the run ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """The timed rounds of one method."""

    method: Method
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median of the rounds (robust to one slow round on a shared machine)."""
        return statistics.median(self.times)


class Runner:
    """Times each method on a fresh ``users`` table: TRUNCATE before, row count checked after."""

    def __init__(self, url: str, rows: int) -> None:
        import psycopg

        self.url = url
        self.rows = rows
        self.admin = psycopg.connect(_conninfo(url), autocommit=True)

    def close(self) -> None:
        """Close the admin connection."""
        self.admin.close()

    def reset(self) -> None:
        """An empty ``users`` table with its identity restarted (``CASCADE``: notifications reference users)."""
        self.admin.execute("TRUNCATE users RESTART IDENTITY CASCADE")

    def check(self, expected: int, method: Method) -> None:
        """Fail loudly if a method did not write exactly the batch (a fast wrong method proves nothing)."""
        row = self.admin.execute("SELECT count(*), count(*) FILTER (WHERE created_at IS NULL) FROM users").fetchone()
        if row is None or row[0] != expected or row[1] != 0:
            raise RuntimeError(f"{method.stack} / {method.name}: expected {expected} rows, found {row}")

    async def time_async(self, stack: AsyncStack, method: Method, data: Data) -> float:
        """Seconds for one run of an async method, its commit included."""
        self.reset()
        run: AsyncRun = method.run  # type: ignore[assignment]
        gc.collect()  # the previous method's garbage is not this one's cost
        start = time.perf_counter()
        await run(stack, data)
        elapsed = time.perf_counter() - start
        self.check(len(data.dicts), method)
        return elapsed

    def time_sync(self, stack: SyncStack, method: Method, data: Data) -> float:
        """Seconds for one run of a sync method, its commit included."""
        self.reset()
        run: SyncRun = method.run  # type: ignore[assignment]
        gc.collect()
        start = time.perf_counter()
        run(stack, data)
        elapsed = time.perf_counter() - start
        self.check(len(data.dicts), method)
        return elapsed


def _rounds_of(method: Method, rounds: int, slow_rounds: int) -> int:
    return slow_rounds if method.slow else rounds


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_async_methods(
    runner: Runner, chosen: Sequence[Method], data: Data, warm: Data, rounds: int, slow_rounds: int
) -> list[Result]:
    """Warm up, then time the async methods round-robin; engine and connections are closed afterwards."""
    import asyncpg

    settings = load_settings({"DATABASE_URL": runner.url})
    engine = make_async_engine(runner.url, **async_engine_options(settings))
    plain = make_async_engine(runner.url, use_insertmanyvalues=False, **async_engine_options(settings))
    stack = AsyncStack(engine, async_sessionmaker(engine, expire_on_commit=False), plain)
    stack.driver = await asyncpg.connect(_conninfo(runner.url))
    try:
        # One small untimed run of each method first: statement caches, type introspection and the pool are warm.
        for method in chosen:
            await runner.time_async(stack, method, warm)
        results = [Result(method) for method in chosen]
        for round_ in range(max(rounds, slow_rounds)):
            # Round-robin: every method runs once per round, so a slow phase of the machine hits them all alike.
            for result in results:
                if round_ < _rounds_of(result.method, rounds, slow_rounds):
                    result.times.append(await runner.time_async(stack, result.method, data))
            _log(f"  async stack: round {round_ + 1} done")
    finally:
        await stack.driver.close()
        await engine.dispose()
        await plain.dispose()
    return results


def run_sync_methods(
    runner: Runner, chosen: Sequence[Method], data: Data, warm: Data, rounds: int, slow_rounds: int
) -> list[Result]:
    """The sync twin of :func:`run_async_methods`."""
    import psycopg

    settings = load_settings({"DATABASE_URL": runner.url})
    engine = make_sync_engine(sync_url(runner.url), **sync_engine_options(settings))
    plain = make_sync_engine(sync_url(runner.url), use_insertmanyvalues=False, **sync_engine_options(settings))
    stack = SyncStack(engine, sessionmaker(engine, expire_on_commit=False), plain)
    stack.driver = psycopg.connect(_conninfo(runner.url), autocommit=True)
    try:
        for method in chosen:
            runner.time_sync(stack, method, warm)
        results = [Result(method) for method in chosen]
        for round_ in range(max(rounds, slow_rounds)):
            for result in results:
                if round_ < _rounds_of(result.method, rounds, slow_rounds):
                    result.times.append(runner.time_sync(stack, result.method, data))
            _log(f"  sync stack: round {round_ + 1} done")
    finally:
        stack.driver.close()
        engine.dispose()
        plain.dispose()
    return results


def _server_version(url: str) -> str:
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def _machine() -> dict[str, Any]:
    memory = None
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("sqlalchemy", "asyncpg", "psycopg")}


def report(results: list[Result], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: metadata, one entry per method, and the goal's verdict."""
    by_key = {(r.method.stack, r.method.name): r for r in results}
    baseline = by_key.get(("raw driver", BASELINE))
    base = baseline.median if baseline else None
    entries = []
    for r in results:
        claim = r.method.claim
        entries.append(
            {
                "method": r.method.name,
                "stack": r.method.stack,
                "rounds": len(r.times),
                "times_s": [round(t, 6) for t in r.times],
                "median_s": round(r.median, 6),
                "rows_per_s": round(meta["rows"] / r.median) if r.median > 0 else None,
                "seed_claim": f"{claim[0]} ~{claim[1]:g} s" if claim else None,
                "seed_claim_s": claim[1] if claim else None,
                "ratio_to_raw_asyncpg_copy": round(r.median / base, 2) if base else None,
            }
        )
    service = by_key.get(("async (asyncpg)", SERVICE_PATH))
    goal: dict[str, Any] = {
        "target_ratio": GOAL_RATIO,
        "ratio": None,
        "holds": None,
        "sync_ratio_to_raw_psycopg_copy": None,
    }
    if service and base:
        ratio = service.median / base
        goal.update(ratio=round(ratio, 2), holds=ratio <= GOAL_RATIO)
    sync_service = by_key.get(("sync (psycopg 3)", SERVICE_PATH))
    sync_base = by_key.get(("raw driver", SYNC_BASELINE))
    if sync_service and sync_base:
        goal["sync_ratio_to_raw_psycopg_copy"] = round(sync_service.median / sync_base.median, 2)
    return {"meta": meta, "results": entries, "goal": goal}


def render_table(doc: dict[str, Any]) -> str:
    """The results as a Markdown table (what the README quotes)."""
    lines = [
        "| method | stack | median s | rows/s | seed's claim (10,000 rows) | ratio to raw asyncpg COPY |",
        "|---|---|---:|---:|---|---:|",
    ]
    for e in doc["results"]:
        ratio = f"{e['ratio_to_raw_asyncpg_copy']:.2f}" if e["ratio_to_raw_asyncpg_copy"] is not None else "—"
        rounds = "" if e["rounds"] == doc["meta"]["rounds"] else f" ({e['rounds']} round{'s' * (e['rounds'] > 1)})"
        lines.append(
            f"| {e['method']}{rounds} | {e['stack']} | {e['median_s']:.4f} | {e['rows_per_s'] or 0:,} "
            f"| {e['seed_claim'] or '—'} | {ratio} |"
        )
    return "\n".join(lines)


def render_chart(doc: dict[str, Any], path: Path) -> str:
    """A horizontal bar chart of the medians (log scale), the seed's claims as markers; a message either way."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return f"matplotlib is not installed: no chart ({path} skipped); `pip install matplotlib` to get it"
    entries = doc["results"]
    labels = [f"{e['method']} [{e['stack']}]" for e in entries]
    colors = {"async (asyncpg)": "tab:blue", "sync (psycopg 3)": "tab:orange", "raw driver": "tab:green"}
    fig, ax = plt.subplots(figsize=(11, 0.36 * len(entries) + 1.5))
    positions = list(range(len(entries)))[::-1]
    ax.barh(positions, [e["median_s"] for e in entries], color=[colors.get(e["stack"], "gray") for e in entries])
    claims = [(p, e["seed_claim_s"]) for p, e in zip(positions, entries, strict=True) if e["seed_claim_s"]]
    if claims:
        ax.scatter(
            [c[1] for c in claims], [c[0] for c in claims], marker="x", color="red", label="seed's claim", zorder=3
        )
        ax.legend(loc="lower right")
    ax.set_yticks(positions, labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(f"median seconds for {doc['meta']['rows']:,} rows (log scale)")
    ax.set_title("Inserting users: SQLAlchemy 2.1 on asyncpg and psycopg 3, PostgreSQL")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart: {path}"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The subcommand's options."""
    parser = argparse.ArgumentParser(prog="python -m bench inserts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="users per run (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per method; the median is reported")
    parser.add_argument(
        "--slow-rounds", type=int, default=1, help="timed runs of the per-row-commit methods (default 1: slow)"
    )
    parser.add_argument("--out", default="reports/bench-inserts", help="output path without suffix (.json, .png)")
    parser.add_argument(
        "--database-url",
        help="server to create the scratch database on (default: DATABASE_URL); that database itself is untouched",
    )
    parser.add_argument("--only", help="run only methods whose name contains this text (the baseline always runs)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.rounds < 1 or args.slow_rounds < 1:
        parser.error("--rows, --rounds and --slow-rounds must be at least 1")
    return args


def main(argv: Sequence[str]) -> int:
    """Run the benchmark; print the table and the goal's verdict; write the JSON and the chart."""
    args = parse_args(argv)
    server_url = args.database_url or load_settings().database_url
    chosen = [m for m in methods() if not args.only or args.only.lower() in m.name.lower() or m.name == BASELINE]
    _log(f"creating and migrating a scratch database on {make_url(server_url).render_as_string()} ...")
    url = create_scratch(server_url)
    runner: Runner | None = None
    try:
        runner = Runner(url, args.rows)
        data, warm = Data.build(args.rows), Data.build(min(args.rows, 100))
        meta = {
            "rows": args.rows,
            "rounds": args.rounds,
            "slow_rounds": args.slow_rounds,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "postgresql": _server_version(url),
            "machine": _machine(),
            "versions": _versions(),
            "note": NOTE,
        }
        _log(f"{args.rows:,} rows, {args.rounds} round(s) ({args.slow_rounds} for per-row commit), median reported")
        results = asyncio.run(
            run_async_methods(runner, [m for m in chosen if m.is_async], data, warm, args.rounds, args.slow_rounds)
        )
        results += run_sync_methods(
            runner, [m for m in chosen if not m.is_async], data, warm, args.rounds, args.slow_rounds
        )
    finally:
        if runner is not None:
            runner.close()
        drop_scratch(server_url, url)
    order = {(m.stack, m.name): i for i, m in enumerate(methods())}
    results.sort(key=lambda r: order[(r.method.stack, r.method.name)])
    doc = report(results, meta)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    print(render_table(doc))
    print()
    print(NOTE)
    goal = doc["goal"]
    if goal["ratio"] is not None:
        verdict = "HOLDS" if goal["holds"] else "DOES NOT HOLD"
        print(
            f"Goal: the service bulk path (async) within {GOAL_RATIO}x of raw asyncpg COPY: "
            f"{goal['ratio']:.2f}x -> {verdict}"
        )
    if goal["sync_ratio_to_raw_psycopg_copy"] is not None:
        print(f"Sync twin: its bulk path is {goal['sync_ratio_to_raw_psycopg_copy']:.2f}x raw psycopg COPY (binary)")
    print(f"results: {out.with_suffix('.json')}")
    print(render_chart(doc, out.with_suffix(".png")))
    return 0
