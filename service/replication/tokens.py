"""``X-Consistency-Token``: the WAL position of a committed write, handed to the client and sent back on reads.

Opaque to clients: ``1.`` (the format's version) and the position in hexadecimal, the 64-bit integer that
PostgreSQL prints as ``HI/LO``. A read that sends one is served only where that position has been replayed.
"""

from __future__ import annotations

import re

from service.errors import DomainError

HEADER = "X-Consistency-Token"
TOKEN_PATTERN = "^1\\.[0-9a-f]{1,16}$"
"""The tokens this version issues (the OpenAPI document's pattern)."""
_TOKEN = re.compile(r"1\.([0-9a-f]{1,16})")
_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


class BadConsistencyToken(DomainError):
    """The client's token is malformed, or names a point the primary has not reached (400)."""

    status = 400


def format_token(lsn: int) -> str:
    return f"1.{lsn:x}"


def parse_token(raw: str | None) -> int | None:
    """The WAL position a client's token names; ``None`` when it sent none; :class:`BadConsistencyToken` if bad."""
    if raw is None:
        return None
    match = _TOKEN.fullmatch(raw.strip())
    if match is None:
        raise BadConsistencyToken(f"malformed {HEADER}: send back a token exactly as a write's response gave it")
    return int(match.group(1), 16)


def parse_lsn(text: str) -> int:
    """PostgreSQL's ``pg_lsn`` text (``16/B374D848``) as an integer."""
    match = _LSN.fullmatch(text)
    if match is None:
        raise ValueError(f"not a WAL position: {text!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)
