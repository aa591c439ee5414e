"""Strict JSON: the RFC's grammar, nothing more (no NaN/Infinity), and no recursion blow-up on deep nesting."""

from __future__ import annotations

import json
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_loads(data: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` that refuses NaN/Infinity; every failure is a ``ValueError`` (the frameworks' 400)."""
    kwargs.setdefault("parse_constant", _refuse_constant)
    try:
        return json.loads(data, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
