"""The contract's handlers: validated input in, :class:`Reply` out. Async source of the generated sync twin."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service import draining
from service.api.headers import etag, parse_if_match
from service.api.routes import Call, Reply
from service.db.models import Product
from service.errors import ServiceUnavailable
from service.observability.metrics import exposition
from service.schemas import notification_out, page_out, product_out, user_out
from service.usecases._async import notifications, products, users


def _product_reply(product: Product, status: int = 200) -> Reply:
    headers = {"ETag": etag(product.version_id)}
    if status == 201:
        headers["Location"] = f"/products/{product.id}"
    return Reply(status, product_out(product), headers)


async def health(session: AsyncSession, call: Call) -> Reply:
    return Reply(200, {"status": "ok"})


async def ready(session: AsyncSession, call: Call) -> Reply:
    if draining.active():
        raise ServiceUnavailable("draining: this server is stopping")
    await session.execute(text("SELECT 1"))
    return Reply(200, {"status": "ready"})


async def bench_latency(session: AsyncSession, call: Call) -> Reply:
    """A database-latency-bound read: the statement waits ``ms`` in PostgreSQL (benchmark mode only)."""
    await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": call.query.ms / 1000})
    return Reply(200, {"slept_ms": call.query.ms})


async def metrics(session: AsyncSession, call: Call) -> Reply:
    body, content_type = exposition()
    return Reply(200, body, content_type=content_type)


async def create_user(session: AsyncSession, call: Call) -> Reply:
    user = await users.register_user(session, call.body)
    return Reply(201, user_out(user), {"Location": f"/users/{user.id}"})


async def get_user(session: AsyncSession, call: Call) -> Reply:
    return Reply(200, user_out(await users.get_user(session, call.params["user_id"])))


async def list_users(session: AsyncSession, call: Call) -> Reply:
    page = await users.list_users(session, call.query.page, call.query.per_page)
    return Reply(200, page_out(page, user_out))


async def lookup_user(session: AsyncSession, call: Call) -> Reply:
    return Reply(200, user_out(await users.find_user_by_email(session, call.query.email)))


async def update_user(session: AsyncSession, call: Call) -> Reply:
    return Reply(200, user_out(await users.update_user(session, call.params["user_id"], call.body)))


async def delete_user(session: AsyncSession, call: Call) -> Reply:
    await users.delete_user(session, call.params["user_id"])
    return Reply(204)


async def bulk_create_users(session: AsyncSession, call: Call) -> Reply:
    return Reply(201, {"inserted": await users.register_users(session, call.body.root)})


async def create_notification(session: AsyncSession, call: Call) -> Reply:
    notification = await notifications.create_notification(session, call.body.root)
    return Reply(201, notification_out(notification), {"Location": f"/notifications/{notification.id}"})


async def get_notification(session: AsyncSession, call: Call) -> Reply:
    return Reply(200, notification_out(await notifications.get_notification(session, call.params["notification_id"])))


async def list_notifications(session: AsyncSession, call: Call) -> Reply:
    page = await notifications.list_notifications(session, call.query.page, call.query.per_page, call.query.type)
    return Reply(200, page_out(page, notification_out))


async def list_user_notifications(session: AsyncSession, call: Call) -> Reply:
    page = await notifications.list_user_notifications(
        session, call.params["user_id"], call.query.page, call.query.per_page
    )
    return Reply(200, page_out(page, notification_out))


async def create_product(session: AsyncSession, call: Call) -> Reply:
    return _product_reply(await products.create_product(session, call.body), status=201)


async def get_product(session: AsyncSession, call: Call) -> Reply:
    return _product_reply(await products.get_product(session, call.params["product_id"]))


async def update_product(session: AsyncSession, call: Call) -> Reply:
    if_match = parse_if_match(call.headers.get("If-Match"))
    product = await products.update_product(
        session, call.params["product_id"], call.body, if_match, call.policy, call.observer
    )
    return _product_reply(product)


async def reserve_product(session: AsyncSession, call: Call) -> Reply:
    product = await products.reserve_stock(
        session, call.params["product_id"], call.body.quantity, call.policy, call.observer
    )
    return _product_reply(product)
