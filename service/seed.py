"""Fill a database with users, notifications and products for load tests: ``python -m service.seed``.

::

    DATABASE_URL=postgresql://... python -m service.seed --users 100000 --notifications 200000 --products 1000

The data is deterministic (a seeded RNG, ``--seed``) and the command is safe to run again:

* users have fixed emails (``user0000042@seed.example``) and go through the service's own bulk path,
  ``UserRepository.add_many``: each batch is one ``COPY`` in its own transaction; a batch that meets an email
  already there (a second run) is rolled back and loaded again with ``on_conflict="skip"`` (a Core executemany of
  ``INSERT ... ON CONFLICT DO NOTHING``), which keeps the rows already present;
* notifications and products have no unique key to skip on, so the counts are targets: only the rows missing up
  to ``--notifications`` / ``--products`` are added, with the same ``COPY`` helper (:func:`service.db.bulk.copy_rows`)
  and the values the ORM would write (timestamps, ``version_id`` 1).

Progress goes to stderr, the summary to stdout. Nothing happens at import.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.config import load_settings
from service.db.bulk import batch_defaults, copy_rows, records
from service.db.engine import async_engine_options, make_async_engine
from service.db.mixins import utcnow
from service.db.models import Notification, Product, User
from service.errors import Conflict
from service.repositories._async.users import UserRepository

DEFAULT_BATCH = 5_000
SEED_DOMAIN = "seed.example"
_FIRST = ("Ada", "Alan", "Barbara", "Claude", "Dennis", "Edsger", "Frances", "Grace", "Guido", "Hedy", "John", "Ken")
_LAST = ("Lovelace", "Turing", "Liskov", "Shannon", "Ritchie", "Dijkstra", "Allen", "Hopper", "Rossum", "Lamarr")
_WORDS = ("order", "shipped", "delivered", "invoice", "reminder", "welcome", "password", "reset", "alert", "report")
RowMaker = Callable[[range], list[dict[str, Any]]]
_ITEMS = ("widget", "gadget", "sprocket", "gizmo", "doohickey", "flange", "bracket", "valve", "bolt", "panel")


class Progress:
    """A small progress bar on a stream (stderr): redrawn in place on a terminal, a line per 10 % otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self._last_step = -1

    def update(self, count: int) -> None:
        """Count ``count`` more rows done and redraw (on a terminal) or print a line when a 10 % step is crossed."""
        self.done += count
        step = self.done * 10 // self.total if self.total else 10
        if self.tty or step != self._last_step or self.done >= self.total:
            self._draw(end="" if self.tty and self.done < self.total else "\n")
            self._last_step = step

    def _draw(self, end: str) -> None:
        width = 30
        filled = width * self.done // self.total if self.total else width
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        percent = 100 * self.done // self.total if self.total else 100
        bar = "#" * filled + "." * (width - filled)
        prefix = "\r" if self.tty else ""
        line = f"{self.label:<13} [{bar}] {percent:3d}% {self.done:,}/{self.total:,} ({rate:,.0f} rows/s)"
        self.stream.write(prefix + line + end)
        self.stream.flush()


@dataclass(frozen=True, slots=True)
class Counts:
    """What a table got: rows added by this run, rows already there."""

    inserted: int
    present: int


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def _chunks(start: int, stop: int, size: int) -> Iterator[range]:
    for first in range(start, stop, size):
        yield range(first, min(first + size, stop))


def user_rows(indexes: range, rng: random.Random) -> list[dict[str, Any]]:
    """Seed users ``indexes``: a fixed email per index (what makes re-runs idempotent) and a random name."""
    return [
        {"email": f"user{i:07d}@{SEED_DOMAIN}", "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i}"}
        for i in indexes
    ]


async def seed_users(sessions: async_sessionmaker[AsyncSession], total: int, batch: int, seed: int) -> Counts:
    """Make sure seed users ``0..total-1`` exist, through ``UserRepository.add_many``."""
    rng = random.Random(f"{seed}:users")
    progress = Progress("users", total)
    inserted = 0
    for indexes in _chunks(0, total, batch):
        rows = user_rows(indexes, rng)
        async with sessions() as session:
            try:
                inserted += await UserRepository(session).add_many(rows)
                await session.commit()
            except Conflict:
                # Some of these emails exist (a previous run): COPY cannot skip rows, so this batch takes the
                # repository's fallback. The failed COPY aborted the transaction: roll it back first.
                await session.rollback()
                inserted += await UserRepository(session).add_many(rows, on_conflict="skip")
                await session.commit()
        progress.update(len(indexes))
    return Counts(inserted, total - inserted)


async def _count(sessions: async_sessionmaker[AsyncSession], table: Table) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def _copy_top_up(
    sessions: async_sessionmaker[AsyncSession], table: Table, present: int, target: int, batch: int, make_rows: RowMaker
) -> Counts:
    """Add the rows missing from ``present`` up to ``target`` with ``COPY``, one transaction per batch."""
    progress = Progress(table.name, max(target - present, 0))
    inserted = 0
    for indexes in _chunks(present, target, batch):
        rows = make_rows(indexes)
        columns, values = records(rows, batch_defaults(table, utcnow()))
        async with sessions() as session:
            inserted += await copy_rows(session, table, columns, values)
            await session.commit()
        progress.update(len(indexes))
    return Counts(inserted, min(present, target))


async def seed_products(sessions: async_sessionmaker[AsyncSession], target: int, batch: int, seed: int) -> Counts:
    """Top products up to ``target`` rows."""
    table = _table(Product)
    present = await _count(sessions, table)
    rng = random.Random(f"{seed}:products:{present}")

    def make_rows(indexes: range) -> list[dict[str, Any]]:
        # version_id 1 is what the mapper's version counter writes on an ORM insert.
        return [{"name": f"{rng.choice(_ITEMS)} {i}", "stock": rng.randint(0, 1_000), "version_id": 1} for i in indexes]

    return await _copy_top_up(sessions, table, present, target, batch, make_rows)


async def seed_notifications(sessions: async_sessionmaker[AsyncSession], target: int, batch: int, seed: int) -> Counts:
    """Top notifications up to ``target`` rows, email and SMS mixed, most of them attached to a live user."""
    table = _table(Notification)
    present = await _count(sessions, table)
    rng = random.Random(f"{seed}:notifications:{present}")
    async with sessions() as session:
        users = _table(User)
        user_ids = list((await session.execute(select(users.c.id).where(users.c.deleted_at.is_(None)))).scalars())

    def make_rows(indexes: range) -> list[dict[str, Any]]:
        rows = []
        for i in indexes:
            email = rng.random() < 0.5
            rows.append(
                {
                    # The polymorphic identities of EmailNotification and SMSNotification.
                    "type": "email" if email else "sms",
                    "message": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} #{i}",
                    "user_id": rng.choice(user_ids) if user_ids and rng.random() < 0.9 else None,
                    "email_address": f"notify{i:07d}@{SEED_DOMAIN}" if email else None,
                    "phone_number": None if email else f"+1555{i % 10_000_000:07d}",
                }
            )
        return rows

    return await _copy_top_up(sessions, table, present, target, batch, make_rows)


async def seed(
    engine: AsyncEngine, *, users: int, notifications: int, products: int, batch: int = DEFAULT_BATCH, seed: int = 0
) -> dict[str, Counts]:
    """Seed ``engine``'s database (users first: notifications point at them); return each table's counts."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return {
        "users": await seed_users(sessions, users, batch, seed),
        "products": await seed_products(sessions, products, batch, seed),
        "notifications": await seed_notifications(sessions, notifications, batch, seed),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command's options."""
    parser = argparse.ArgumentParser(prog="python -m service.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000, help="seed users to ensure (default 10000)")
    parser.add_argument("--notifications", type=int, default=0, help="notifications to top up to (default 0)")
    parser.add_argument("--products", type=int, default=0, help="products to top up to (default 0)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="rows per transaction (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = parser.parse_args(argv)
    if min(args.users, args.notifications, args.products) < 0 or args.batch < 1:
        parser.error("counts must be >= 0 and --batch >= 1")
    return args


async def _run(args: argparse.Namespace, env: Mapping[str, str] | None) -> dict[str, Counts]:
    settings = load_settings(env)
    engine = make_async_engine(settings.database_url, **async_engine_options(settings))
    try:
        return await seed(
            engine,
            users=args.users,
            notifications=args.notifications,
            products=args.products,
            batch=args.batch,
            seed=args.seed,
        )
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Seed the database of ``DATABASE_URL`` (read from ``env``, default ``os.environ``); print a summary."""
    args = parse_args(argv)
    started = time.perf_counter()
    counts = asyncio.run(_run(args, env))
    for table, count in counts.items():
        print(f"{table}: {count.inserted} inserted, {count.present} already present")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
