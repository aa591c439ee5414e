"""Statements the repositories of both stacks run often, built once.

``session.get(Model, id)`` builds a new ``SELECT`` at every call and computes its cache key before it can find the
compiled form; a statement built once keeps its (memoized) key. Measured on the point read (a loop of request-like
sessions on the async engine, CPU time, alternating): 510-540 µs instead of 620-720 µs per read.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, inspect, select

M = TypeVar("M")

ID = "id"


_BY_ID: dict[type[Any], Select[Any]] = {}


def by_id(model: type[M]) -> Select[M]:
    """``SELECT model WHERE <primary key> = :id``; the soft-delete hook still applies to it like to any select.

    Unlike ``session.get`` it always asks the database, also for an object already in the session's identity
    map (and returns that object, not refreshed): use it for a request's first load of the row.
    """
    statement = _BY_ID.get(model)
    if statement is None:
        (key,) = inspect(model).primary_key
        statement = _BY_ID[model] = select(model).where(key == bindparam(ID))
    return statement


def by_id_params(ident: Any) -> dict[str, Any]:
    return {ID: ident}
