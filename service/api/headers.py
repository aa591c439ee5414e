"""ETag / If-Match for products."""

from __future__ import annotations

from service.errors import PreconditionFailed


def etag(version_id: int) -> str:
    return f'"{version_id}"'


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header names; ``None`` when absent or ``*``; 412 when it can name none."""
    if value is None or value.strip() in {"", "*"}:
        return None  # any version may be updated
    tag = value.strip()
    if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) <= 21:
        return int(tag[1:-1])
    # A weak tag, a list or garbage cannot match a strong version ETag (RFC 9110 13.1.1).
    raise PreconditionFailed("If-Match does not name a current version of this product")
