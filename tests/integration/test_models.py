"""The models on a real PostgreSQL: soft delete, single-table inheritance, lazy="raise", optimistic locking,
timestamps and the constraints."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from service.db.errors import constraint_name
from service.db.models import EmailNotification, Notification, Product, SMSNotification, User


async def add(session: AsyncSession, *objects: object) -> None:
    session.add_all(objects)
    await session.flush()


async def soft_delete(session: AsyncSession, obj: User | Notification) -> None:
    obj.soft_delete()
    await session.flush()
    session.expunge_all()  # later reads must go to the database, not the identity map


# -- soft delete ---------------------------------------------------------------------------------------------


async def test_soft_deleted_user_is_hidden_from_get_and_select(db_session: AsyncSession) -> None:
    live, gone = User(email="live@example.com", name="Live"), User(email="gone@example.com", name="Gone")
    await add(db_session, live, gone)
    live_id, gone_id = live.id, gone.id
    await soft_delete(db_session, gone)

    assert await db_session.get(User, gone_id) is None
    assert await db_session.get(User, live_id) is not None
    ids = (await db_session.scalars(select(User.id).where(User.id.in_([live_id, gone_id])))).all()
    assert ids == [live_id]
    users = (await db_session.scalars(select(User).where(User.id.in_([live_id, gone_id])))).all()
    assert [u.id for u in users] == [live_id]


async def test_include_deleted_shows_soft_deleted_rows(db_session: AsyncSession) -> None:
    gone = User(email="gone@example.com", name="Gone")
    await add(db_session, gone)
    gone_id = gone.id
    await soft_delete(db_session, gone)

    stmt = select(User).where(User.id == gone_id).execution_options(include_deleted=True)
    found = (await db_session.scalars(stmt)).one()
    assert found.is_deleted
    db_session.expunge_all()
    assert await db_session.get(User, gone_id, execution_options={"include_deleted": True}) is not None


async def test_relationship_load_skips_soft_deleted_notification(db_session: AsyncSession) -> None:
    user = User(email="u@example.com", name="U")
    await add(db_session, user)
    kept = SMSNotification(message="kept", phone_number="+100", user_id=user.id)
    dropped = EmailNotification(message="dropped", email_address="u@example.com", user_id=user.id)
    await add(db_session, kept, dropped)
    await soft_delete(db_session, dropped)

    stmt = select(User).where(User.id == user.id).options(selectinload(User.notifications))
    loaded = (await db_session.scalars(stmt)).one()
    assert [n.message for n in loaded.notifications] == ["kept"]

    db_session.expunge_all()
    stmt = stmt.execution_options(include_deleted=True)
    loaded = (await db_session.scalars(stmt)).one()
    assert sorted(n.message for n in loaded.notifications) == ["dropped", "kept"]


async def test_relationship_load_gives_none_for_soft_deleted_user(db_session: AsyncSession) -> None:
    user = User(email="u@example.com", name="U")
    await add(db_session, user)
    note = SMSNotification(message="orphaned", phone_number="+100", user_id=user.id)
    await add(db_session, note)
    await soft_delete(db_session, user)

    stmt = select(Notification).where(Notification.id == note.id).options(selectinload(Notification.user))
    loaded = (await db_session.scalars(stmt)).one()
    assert loaded.user_id == user.id
    assert loaded.user is None


async def test_polymorphic_select_skips_soft_deleted_subclass_row(db_session: AsyncSession) -> None:
    sms = SMSNotification(message="sms", phone_number="+100")
    email = EmailNotification(message="email", email_address="e@example.com")
    await add(db_session, sms, email)
    ids = [sms.id, email.id]
    await soft_delete(db_session, email)

    found = (await db_session.scalars(select(Notification).where(Notification.id.in_(ids)))).all()
    assert [type(n) for n in found] == [SMSNotification]
    everything = select(Notification).where(Notification.id.in_(ids)).execution_options(include_deleted=True)
    assert len((await db_session.scalars(everything)).all()) == 2


# -- single-table inheritance and lazy="raise" ----------------------------------------------------------------


async def test_polymorphic_select_loads_subclass_columns_inline(db_session: AsyncSession) -> None:
    await add(
        db_session,
        EmailNotification(message="e", email_address="e@example.com"),
        SMSNotification(message="s", phone_number="+4412"),
    )
    db_session.expunge_all()

    found = (await db_session.scalars(select(Notification).order_by(Notification.id))).all()
    for obj in found:
        db_session.expunge(obj)  # detached: an attribute that still needed a load would raise

    email, sms = found
    assert isinstance(email, EmailNotification)
    assert isinstance(sms, SMSNotification)
    assert "email_address" not in inspect(email).unloaded
    assert "phone_number" not in inspect(sms).unloaded
    assert email.email_address == "e@example.com"
    assert sms.phone_number == "+4412"


async def test_lazy_relationship_access_raises(db_session: AsyncSession) -> None:
    user = User(email="u@example.com", name="U")
    await add(db_session, user)
    note = SMSNotification(message="m", phone_number="+100", user_id=user.id)
    await add(db_session, note)
    db_session.expunge_all()

    loaded_user = (await db_session.scalars(select(User).where(User.id == user.id))).one()
    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        _ = loaded_user.notifications
    loaded_note = (await db_session.scalars(select(Notification).where(Notification.id == note.id))).one()
    with pytest.raises(InvalidRequestError, match="lazy='raise'"):
        _ = loaded_note.user


# -- optimistic locking --------------------------------------------------------------------------------------


async def test_version_id_starts_at_one_and_grows_per_update(db_session: AsyncSession) -> None:
    product = Product(name="widget", stock=5)
    await add(db_session, product)
    assert product.version_id == 1

    for expected, stock in [(2, 4), (3, 3)]:
        product.stock = stock
        await db_session.flush()
        stored = await db_session.scalar(select(Product.version_id).where(Product.id == product.id))
        assert (product.version_id, stored) == (expected, expected)


async def test_concurrent_update_loses_with_stale_data_error(engine: AsyncEngine) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as setup:
        product = Product(name="contested", stock=10)
        setup.add(product)
        await setup.commit()
        product_id = product.id

    async with AsyncSession(engine) as first, AsyncSession(engine) as second:
        mine = await first.get(Product, product_id)
        theirs = await second.get(Product, product_id)
        assert mine is not None
        assert theirs is not None
        mine.stock = 9
        theirs.stock = 8
        await first.commit()
        with pytest.raises(StaleDataError):
            await second.commit()

    async with AsyncSession(engine) as check:
        stored = await check.get(Product, product_id)
        assert stored is not None
        assert (stored.stock, stored.version_id) == (9, 2)


# -- timestamps ----------------------------------------------------------------------------------------------


async def test_updated_at_advances_and_created_at_stays(db_session: AsyncSession) -> None:
    user = User(email="t@example.com", name="Before")
    await add(db_session, user)
    await db_session.refresh(user)
    created, updated = user.created_at, user.updated_at

    await asyncio.sleep(0.002)
    user.name = "After"
    await db_session.flush()
    await db_session.refresh(user)

    assert user.created_at == created
    assert user.updated_at > updated


async def test_timestamps_are_timezone_aware_utc(db_session: AsyncSession) -> None:
    await add(db_session, User(email="tz@example.com", name="Tz"))
    db_session.expunge_all()

    user = (await db_session.scalars(select(User).where(User.email == "tz@example.com"))).one()
    for value in (user.created_at, user.updated_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)


# -- constraints ---------------------------------------------------------------------------------------------


async def test_email_is_unique_among_live_users_only(db_session: AsyncSession) -> None:
    first = User(email="dup@example.com", name="First")
    await add(db_session, first)

    with pytest.raises(IntegrityError) as caught:
        async with db_session.begin_nested():
            db_session.add(User(email="dup@example.com", name="Second"))
    assert constraint_name(caught.value) == "uq_users_email_live"

    await soft_delete(db_session, first)
    again = User(email="dup@example.com", name="Again")
    await add(db_session, again)
    assert again.id != first.id


async def test_stock_cannot_go_negative(db_session: AsyncSession) -> None:
    with pytest.raises(IntegrityError) as caught:
        async with db_session.begin_nested():
            db_session.add(Product(name="debt", stock=-1))
    assert constraint_name(caught.value) == "ck_products_stock_non_negative"
