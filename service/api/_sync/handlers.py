# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""The contract's handlers: validated input in, :class:`Reply` out. Async source of the generated sync twin."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from service import draining
from service.api.headers import etag, parse_if_match
from service.api.routes import Call, Reply
from service.db.models import Product
from service.errors import ServiceUnavailable
from service.observability.metrics import exposition
from service.schemas import notification_out, page_out, product_out, user_out
from service.usecases._sync import notifications, products, users


def _product_reply(product: Product, status: int = 200) -> Reply:
    headers = {"ETag": etag(product.version_id)}
    if status == 201:
        headers["Location"] = f"/products/{product.id}"
    return Reply(status, product_out(product), headers)


def health(session: Session, call: Call) -> Reply:
    return Reply(200, {"status": "ok"})


def ready(session: Session, call: Call) -> Reply:
    if draining.active():
        raise ServiceUnavailable("draining: this server is stopping")
    session.execute(text("SELECT 1"))
    return Reply(200, {"status": "ready"})


def bench_latency(session: Session, call: Call) -> Reply:
    """A database-latency-bound read: the statement waits ``ms`` in PostgreSQL (benchmark mode only)."""
    session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": call.query.ms / 1000})
    return Reply(200, {"slept_ms": call.query.ms})


def metrics(session: Session, call: Call) -> Reply:
    body, content_type = exposition()
    return Reply(200, body, content_type=content_type)


def create_user(session: Session, call: Call) -> Reply:
    user = users.register_user(session, call.body)
    return Reply(201, user_out(user), {"Location": f"/users/{user.id}"})


def get_user(session: Session, call: Call) -> Reply:
    return Reply(200, user_out(users.get_user(session, call.params["user_id"])))


def list_users(session: Session, call: Call) -> Reply:
    page = users.list_users(session, call.query.page, call.query.per_page)
    return Reply(200, page_out(page, user_out))


def lookup_user(session: Session, call: Call) -> Reply:
    return Reply(200, user_out(users.find_user_by_email(session, call.query.email)))


def update_user(session: Session, call: Call) -> Reply:
    return Reply(200, user_out(users.update_user(session, call.params["user_id"], call.body)))


def delete_user(session: Session, call: Call) -> Reply:
    users.delete_user(session, call.params["user_id"])
    return Reply(204)


def bulk_create_users(session: Session, call: Call) -> Reply:
    return Reply(201, {"inserted": users.register_users(session, call.body.root)})


def create_notification(session: Session, call: Call) -> Reply:
    notification = notifications.create_notification(session, call.body.root)
    return Reply(201, notification_out(notification), {"Location": f"/notifications/{notification.id}"})


def get_notification(session: Session, call: Call) -> Reply:
    return Reply(200, notification_out(notifications.get_notification(session, call.params["notification_id"])))


def list_notifications(session: Session, call: Call) -> Reply:
    page = notifications.list_notifications(session, call.query.page, call.query.per_page, call.query.type)
    return Reply(200, page_out(page, notification_out))


def list_user_notifications(session: Session, call: Call) -> Reply:
    page = notifications.list_user_notifications(session, call.params["user_id"], call.query.page, call.query.per_page)
    return Reply(200, page_out(page, notification_out))


def create_product(session: Session, call: Call) -> Reply:
    return _product_reply(products.create_product(session, call.body), status=201)


def get_product(session: Session, call: Call) -> Reply:
    return _product_reply(products.get_product(session, call.params["product_id"]))


def update_product(session: Session, call: Call) -> Reply:
    if_match = parse_if_match(call.headers.get("If-Match"))
    product = products.update_product(
        session, call.params["product_id"], call.body, if_match, call.policy, call.observer
    )
    return _product_reply(product)


def reserve_product(session: Session, call: Call) -> Reply:
    product = products.reserve_stock(session, call.params["product_id"], call.body.quantity, call.policy, call.observer)
    return _product_reply(product)
