"""The N+1 guard: fail a test whose block runs more statements than its budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.support.servers import LiveServer


def server_engine(server: LiveServer) -> Engine:
    """The sync engine under either app (the async app's ``sync_engine`` is where cursor events fire)."""
    ext = server.app.extensions["sqlalchemy"]
    if server.kind == "quart":
        return ext.engine.sync_engine  # type: ignore[no-any-return]
    with server.app.app_context():
        return ext.engine  # type: ignore[no-any-return]


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements)


@contextmanager
def assert_max_queries(server: LiveServer, budget: int) -> Iterator[StatementLog]:
    """Count every statement the server's engine runs inside the block; more than ``budget`` fails the test."""
    log = StatementLog()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log.statements.append(statement)

    engine = server_engine(server)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(log) <= budget, f"{len(log)} statements > budget {budget}:\n" + "\n".join(log.statements)
