"""No lazy load can run in async code: every relationship of every mapper refuses lazy loading.

The API suite runs every endpoint against these mappers, so an endpoint that needed a lazy load would fail there
with "lazy='raise'" instead of a MissingGreenlet in production.
"""

from __future__ import annotations

from service.db import models  # noqa: F401  (maps every model on Base)
from service.db.base import Base


def test_every_relationship_is_lazy_raise() -> None:
    relationships = [rel for mapper in Base.registry.mappers for rel in mapper.relationships]
    assert relationships, "the models define relationships"
    assert {str(rel): rel.lazy for rel in relationships} == {str(rel): "raise" for rel in relationships}


def test_every_subclass_column_loads_inline() -> None:
    # STI subclass columns load with the base query, so a list of Notification needs no per-row load.
    subclasses = [mapper for mapper in Base.registry.mappers if mapper.inherits is not None]
    assert subclasses, "the models define subclasses (the notification kinds)"  # else the loop checks nothing
    for mapper in subclasses:
        assert mapper.polymorphic_load == "inline", mapper
