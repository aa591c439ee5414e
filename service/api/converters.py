"""The ``<id:...>`` URL converter: ids are positive 64-bit integers; anything else does not match (404)."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from service.schemas import INT64_MAX


def at_most(bound: int) -> str:
    """A regex (no capturing groups) of the decimal numbers 1..``bound``, each with optional leading zeros."""
    digits = str(bound)
    # Shorter numbers are all below the bound; a number as long as the bound follows its digits up to some
    # position, has a smaller digit there, and anything after it; or it is the bound itself.
    shorter = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    same_length = []
    for position, digit in enumerate(digits):
        low = "1" if position == 0 else "0"
        if int(digit) > int(low):
            rest = len(digits) - position - 1
            same_length.append(f"{digits[:position]}[{low}-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    return f"0*(?:{'|'.join([*shorter, *same_length, digits])})"


class IdConverter(BaseConverter):
    """``[1, 2**63 - 1]``, decided by the regex alone, so every method of a path agrees on what is no id.

    A value the regex took but ``to_python`` refused would make Werkzeug answer 405 for the methods of the path's
    other rules (it notes their methods before it converts), where an unknown id is a 404 for every method.
    """

    # No zero, no sign, nothing above the bigint range: none of them can name a row.
    regex = at_most(INT64_MAX)
    weight = 50

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: object) -> str:
        return str(value)
