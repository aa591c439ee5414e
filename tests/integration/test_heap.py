"""Both apps freeze their start-up heap (``GC_FREEZE``, on by default): the Quart app when it starts serving, the
twin when a worker builds it. Why: service.heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service.config import load_settings
from service.flask_app import create_app as create_flask_app
from service.quart_app import create_app as create_quart_app
from tests.conftest import make_settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test runner's heap must not stay frozen


def test_gc_freeze_is_on_unless_set_off() -> None:
    assert load_settings({}).gc_freeze is True
    assert load_settings({"GC_FREEZE": "false"}).gc_freeze is False


@pytest.mark.usefixtures("unfrozen")
async def test_the_quart_app_freezes_its_heap_when_it_starts_serving(database_url: str) -> None:
    app = create_quart_app(make_settings(database_url, gc_freeze=True))
    assert gc.get_freeze_count() == 0  # not at import or in the factory: the engines come at before_serving

    async with app.test_app():
        assert gc.get_freeze_count() > 10_000


@pytest.mark.usefixtures("unfrozen")
def test_the_twin_freezes_its_heap_when_it_is_built(database_url: str) -> None:
    create_flask_app(make_settings(database_url, gc_freeze=True))

    assert gc.get_freeze_count() > 10_000


@pytest.mark.usefixtures("unfrozen")
async def test_nothing_is_frozen_when_it_is_off(database_url: str) -> None:
    create_flask_app(make_settings(database_url, gc_freeze=False))
    async with create_quart_app(make_settings(database_url, gc_freeze=False)).test_app():
        assert gc.get_freeze_count() == 0
