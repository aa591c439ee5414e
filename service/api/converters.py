"""The ``<id:...>`` URL converter: ids are positive 64-bit integers; anything else does not match (404)."""

from __future__ import annotations

from werkzeug.routing import BaseConverter, ValidationError

from service.schemas import INT64_MAX


class IdConverter(BaseConverter):
    # No zero: "/users/0" must be a 404 for every method, not a 405 for the methods of another rule.
    regex = r"0*[1-9][0-9]{0,18}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        # Out of bigint range would reach the driver as a DataError: it cannot name a row, so it is "not found".
        if not 1 <= number <= INT64_MAX:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(value)
