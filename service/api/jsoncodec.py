"""Strict JSON: the RFC's grammar, nothing more (no NaN/Infinity), and no recursion blow-up on deep nesting."""

from __future__ import annotations

import json
from typing import Any

# Quart re-exports Flask's provider class: one subclass serves both apps.
from flask.json.provider import DefaultJSONProvider


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(data: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` that refuses NaN/Infinity; every failure is a ``ValueError`` (the frameworks' 400).

    Bytes are decoded as strict UTF-8 (RFC 8259): ``json.loads`` would otherwise sniff UTF-16/32 and skip a BOM,
    which Werkzeug hands it raw while Quart decodes first, and the two apps would disagree.
    """
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    kwargs.setdefault("parse_constant", _refuse_constant)
    try:
        return json.loads(data, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class StrictJSONProvider(DefaultJSONProvider):
    """The frameworks' JSON provider with :func:`strict_loads` for request bodies."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s, **kwargs)
