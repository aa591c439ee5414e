"""The use cases with in-memory fake repositories and a fake session: no database at all (the seed's "tests can
substitute a fake repository")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.orm.exc import StaleDataError

from service.db.models import Product, User
from service.errors import Conflict, NotFound, PreconditionFailed
from service.quart_sqlalchemy.pagination import Pagination
from service.retry import RetryPolicy
from service.schemas import ProductUpdate, UserCreate
from service.usecases._async.products import reserve_stock, update_product
from service.usecases._async.users import get_user, register_user, register_users

POLICY = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


class FakeSession:
    """Counts the transaction calls the use cases make; has nothing to commit."""

    def __init__(self) -> None:
        self.commits = 0
        self.rollbacks = 0

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        self.rollbacks += 1

    def expunge_all(self) -> None:
        pass


class FakeUserRepository:
    """UserRepository over a dict; emails are unique among stored users, as the partial index makes them."""

    def __init__(self, *users: User) -> None:
        self.users: dict[int, User] = {}
        for user in users:
            self._store(user)

    def _store(self, user: User) -> None:
        if any(u.email == user.email and u.deleted_at is None for u in self.users.values()):
            raise Conflict("a user with this email already exists")
        user.id = user.id or len(self.users) + 1
        self.users[user.id] = user

    async def get_by_id(self, user_id: int) -> User | None:
        user = self.users.get(user_id)
        return user if user is not None and user.deleted_at is None else None

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email and u.deleted_at is None), None)

    async def list_active(self, page: int = 1, per_page: int = 20) -> Pagination[User]:
        live = [u for u in self.users.values() if u.deleted_at is None and u.is_active is not False]
        return Pagination(
            items=live[(page - 1) * per_page : page * per_page], page=page, per_page=per_page, total=len(live)
        )

    async def save(self, user: User) -> User:
        self._store(user)
        return user

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> int:
        for row in rows:
            if await self.get_by_email(row["email"]) is not None:
                raise Conflict("a user with this email already exists")
        for row in rows:
            self._store(User(**row))
        return len(rows)


class FakeProductRepository:
    """ProductRepository over a dict of rows: like a database, only ``save`` changes what is stored, and a save
    bumps ``version_id``. ``stale_saves`` makes that many saves lose a (simulated) version race first."""

    def __init__(self, *products: Product, stale_saves: int = 0) -> None:
        self.rows = {p.id: self._row(p) for p in products}
        self.stale_saves = stale_saves
        self.reads: list[bool] = []  # for_update of each read

    @staticmethod
    def _row(p: Product) -> dict[str, Any]:
        return {"id": p.id, "name": p.name, "stock": p.stock, "version_id": p.version_id}

    async def get_by_id(self, product_id: int, *, for_update: bool = False) -> Product | None:
        self.reads.append(for_update)
        row = self.rows.get(product_id)
        return Product(**row) if row is not None else None

    async def save(self, product: Product) -> Product:
        if self.stale_saves:
            self.stale_saves -= 1
            raise StaleDataError("UPDATE statement on table 'products' expected to update 1 row(s); 0 were matched.")
        assert self.rows[product.id]["version_id"] == product.version_id
        product.version_id += 1
        self.rows[product.id] = self._row(product)
        return product


# -- users ---------------------------------------------------------------------------------------------------


async def test_register_user_saves_and_commits_once() -> None:
    session, repo = FakeSession(), FakeUserRepository()

    user = await register_user(session, UserCreate(email="Ada@Example.com", name="Ada"), repo=repo)  # type: ignore[arg-type]

    assert session.commits == 1
    assert repo.users == {user.id: user}
    assert (user.email, user.name) == ("ada@example.com", "Ada")


async def test_register_user_with_a_taken_email_does_not_commit() -> None:
    session, repo = FakeSession(), FakeUserRepository(User(email="ada@example.com", name="Ada"))

    with pytest.raises(Conflict):
        await register_user(session, UserCreate(email="ada@example.com", name="Other"), repo=repo)  # type: ignore[arg-type]

    assert session.commits == 0
    assert len(repo.users) == 1


async def test_get_user() -> None:
    session = FakeSession()
    repo = FakeUserRepository(User(id=7, email="g@example.com", name="G"))

    assert (await get_user(session, 7, repo=repo)).name == "G"  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="user not found"):
        await get_user(session, 8, repo=repo)  # type: ignore[arg-type]


async def test_register_users_writes_all_and_commits_once() -> None:
    session, repo = FakeSession(), FakeUserRepository()
    rows = [UserCreate(email=f"u{i}@example.com", name=f"U{i}") for i in range(3)]

    assert await register_users(session, rows, repo=repo) == 3  # type: ignore[arg-type]

    assert sorted(u.email for u in repo.users.values()) == ["u0@example.com", "u1@example.com", "u2@example.com"]
    assert session.commits == 1


async def test_register_users_with_a_repeated_email_names_both_rows_and_writes_nothing() -> None:
    session, repo = FakeSession(), FakeUserRepository()
    rows = [
        UserCreate(email="a@example.com", name="A"),
        UserCreate(email="b@example.com", name="B"),
        UserCreate(email="A@example.com", name="A again"),  # the same address once normalised
    ]

    with pytest.raises(Conflict) as caught:
        await register_users(session, rows, repo=repo)  # type: ignore[arg-type]

    assert re.search(r"\b0\b.*\b2\b", caught.value.detail), caught.value.detail
    assert "1" not in caught.value.detail
    assert repo.users == {}
    assert session.commits == 0


# -- products ------------------------------------------------------------------------------------------------


def widget(stock: int = 5, version_id: int = 1) -> Product:
    return Product(id=1, name="widget", stock=stock, version_id=version_id)


async def test_reserve_stock_lowers_stock() -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=5))

    product = await reserve_stock(session, 1, 2, POLICY, repo=repo)  # type: ignore[arg-type]

    assert product.stock == 3
    assert repo.rows[1]["stock"] == 3
    assert session.commits == 1


async def test_reserve_stock_refuses_more_than_is_left_and_changes_nothing() -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=5))

    with pytest.raises(Conflict) as caught:
        await reserve_stock(session, 1, 6, POLICY, repo=repo)  # type: ignore[arg-type]

    assert caught.value.detail == "insufficient stock"

    assert repo.rows[1] == {"id": 1, "name": "widget", "stock": 5, "version_id": 1}
    assert session.commits == 0


async def test_reserve_stock_takes_the_last_item() -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=2))

    await reserve_stock(session, 1, 2, POLICY, repo=repo)  # type: ignore[arg-type]

    assert repo.rows[1]["stock"] == 0


async def test_reserve_stock_retries_a_lost_race_reading_for_update() -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=5), stale_saves=1)

    await reserve_stock(session, 1, 1, POLICY, repo=repo)  # type: ignore[arg-type]

    assert repo.rows[1]["stock"] == 4
    assert repo.reads == [False, True]
    assert (session.rollbacks, session.commits) == (1, 1)


async def test_reserve_stock_on_a_missing_product_is_not_found() -> None:
    session = FakeSession()

    with pytest.raises(NotFound, match="product not found"):
        await reserve_stock(session, 1, 1, POLICY, repo=FakeProductRepository())  # type: ignore[arg-type]


async def test_update_product_with_a_wrong_if_match_is_refused() -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=5, version_id=3))

    with pytest.raises(PreconditionFailed, match="version 3, not 2"):
        await update_product(session, 1, ProductUpdate(stock=9), 2, POLICY, repo=repo)  # type: ignore[arg-type]

    assert repo.rows[1]["stock"] == 5
    assert session.commits == 0


@pytest.mark.parametrize("if_match", [3, None])
async def test_update_product_applies_the_change(if_match: int | None) -> None:
    session, repo = FakeSession(), FakeProductRepository(widget(stock=5, version_id=3))

    product = await update_product(session, 1, ProductUpdate(stock=9), if_match, POLICY, repo=repo)  # type: ignore[arg-type]

    assert repo.rows[1] == {"id": 1, "name": "widget", "stock": 9, "version_id": 4}
    assert product.updated_at is not None
    assert session.commits == 1
