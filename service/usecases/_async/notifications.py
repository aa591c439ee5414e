"""Notification use cases."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from service.db.models import EmailNotification, Notification, SMSNotification
from service.errors import NotFound, ValidationFailed
from service.quart_sqlalchemy.pagination import Pagination
from service.repositories._async.notifications import NotificationRepository
from service.repositories._async.users import UserRepository
from service.schemas import EmailNotificationCreate, SMSNotificationCreate
from service.usecases._async.users import get_user


async def create_notification(
    session: AsyncSession, data: EmailNotificationCreate | SMSNotificationCreate
) -> Notification:
    # The foreign key accepts a soft-deleted user; the contract does not, so check liveness first.
    if data.user_id is not None and await UserRepository(session).get_by_id(data.user_id) is None:
        raise ValidationFailed("user_id does not name a live user", [{"loc": ["user_id"], "msg": "no such user"}])
    notification: Notification
    if isinstance(data, EmailNotificationCreate):
        notification = EmailNotification(message=data.message, email_address=data.email_address, user_id=data.user_id)
    else:
        notification = SMSNotification(message=data.message, phone_number=data.phone_number, user_id=data.user_id)
    await NotificationRepository(session).save(notification)
    await session.commit()
    return notification


async def get_notification(session: AsyncSession, notification_id: int) -> Notification:
    notification = await NotificationRepository(session).get_by_id(notification_id)
    if notification is None:
        raise NotFound("notification not found")
    return notification


async def list_notifications(
    session: AsyncSession, page: int, per_page: int, kind: str | None = None
) -> Pagination[Notification]:
    return await NotificationRepository(session).list(page, per_page, kind=kind)


async def list_user_notifications(
    session: AsyncSession, user_id: int, page: int, per_page: int
) -> Pagination[Notification]:
    await get_user(session, user_id)
    return await NotificationRepository(session).list(page, per_page, user_id=user_id)
