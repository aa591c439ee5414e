"""``get_or_404``, ``first_or_404`` and ``one_or_404`` on Flask-SQLAlchemy and on ours: the same values, and the same
404s (``description`` included) for no row and, for ``one_or_404``, for several."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import NotFound

from tests.quart_sqlalchemy.twins import Databases, Side, aw, define_models, on_both, same


async def seeded(side: Side) -> None:
    async with side.context():
        await aw(side.db.create_all())
        side.db.session.add_all([side.models.Author(name=name) for name in ("ada", "grace", "hedy")])
        await aw(side.db.session.commit())


async def outcome(call: Callable[[], Any]) -> Any:
    """The author's name, or the 404's code and description (Flask's helpers raise at the call, ours when awaited)."""
    try:
        value = await aw(call())
    except NotFound as exc:
        return (exc.code, exc.description)
    return value.name


async def test_get_or_404(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        await seeded(side)
        Author = side.models.Author
        async with side.context():
            return [
                await outcome(lambda: side.db.get_or_404(Author, 1)),
                await outcome(lambda: side.db.get_or_404(Author, 99)),
                await outcome(lambda: side.db.get_or_404(Author, 99, description="No such author.")),
                # Extra keyword arguments go to session.get (Flask-SQLAlchemy 3.1).
                await outcome(lambda: side.db.get_or_404(Author, 2, with_for_update=True, populate_existing=True)),
            ]

    default_404 = NotFound.description
    assert same(await on_both(databases, define_models, scenario)) == [
        "ada",
        (404, default_404),
        (404, "No such author."),
        "grace",
    ]


async def test_first_or_404(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        await seeded(side)
        Author = side.models.Author
        by_name = sa.select(Author).order_by(Author.name)
        async with side.context():
            return [
                await outcome(lambda: side.db.first_or_404(by_name)),
                await outcome(lambda: side.db.first_or_404(by_name.where(Author.name == "hedy"))),
                await outcome(lambda: side.db.first_or_404(by_name.where(Author.name == "nobody"))),
                await outcome(
                    lambda: side.db.first_or_404(by_name.where(Author.name == "nobody"), description="Nobody.")
                ),
            ]

    assert same(await on_both(databases, define_models, scenario)) == [
        "ada",
        "hedy",
        (404, NotFound.description),
        (404, "Nobody."),
    ]


async def test_one_or_404_with_one_none_and_several_rows(databases: dict[str, Databases]) -> None:
    async def scenario(side: Side) -> Any:
        await seeded(side)
        Author = side.models.Author
        async with side.context():
            return [
                await outcome(lambda: side.db.one_or_404(sa.select(Author).where(Author.name == "grace"))),
                await outcome(lambda: side.db.one_or_404(sa.select(Author).where(Author.name == "nobody"))),
                await outcome(
                    lambda: side.db.one_or_404(sa.select(Author).where(Author.name == "nobody"), description="None.")
                ),
                await outcome(lambda: side.db.one_or_404(sa.select(Author))),
                await outcome(lambda: side.db.one_or_404(sa.select(Author), description="Several.")),
            ]

    assert same(await on_both(databases, define_models, scenario)) == [
        "grace",
        (404, NotFound.description),
        (404, "None."),
        (404, NotFound.description),
        (404, "Several."),
    ]


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/authors/1", 200, "ada"),
        ("/authors/42", 404, "Author 42 does not exist."),
        ("/by-name/grace", 200, "grace"),
        ("/by-name/nobody", 404, "No author of that name."),
        ("/any", 404, "Not exactly one."),
    ],
)
async def test_the_404_reaches_the_client_with_its_description(
    databases: dict[str, Databases], path: str, status: int, text: str
) -> None:
    async def scenario(side: Side) -> Any:
        await seeded(side)
        Author = side.models.Author

        @side.route("/authors/<int:ident>")
        async def author(ident: int) -> Any:
            return (await aw(side.db.get_or_404(Author, ident, description=f"Author {ident} does not exist."))).name

        @side.route("/by-name/<name>")
        async def by_name(name: str) -> Any:
            statement = sa.select(Author).where(Author.name == name)
            return (await aw(side.db.first_or_404(statement, description="No author of that name."))).name

        @side.route("/any")
        async def any_author() -> Any:
            return (await aw(side.db.one_or_404(sa.select(Author), description="Not exactly one."))).name

        response = await aw(side.app.test_client().get(path))
        body = (await aw(response.get_data())).decode()
        return response.status_code, text in body

    assert same(await on_both(databases, define_models, scenario)) == (status, True)
