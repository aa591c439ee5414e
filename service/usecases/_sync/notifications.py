# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Notification use cases."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.db.models import EmailNotification, Notification, SMSNotification
from service.errors import NotFound, ValidationFailed
from service.quart_sqlalchemy.pagination import Pagination
from service.repositories._sync.notifications import NotificationRepository
from service.repositories._sync.users import UserRepository
from service.schemas import EmailNotificationCreate, SMSNotificationCreate
from service.usecases._sync.users import get_user


def create_notification(session: Session, data: EmailNotificationCreate | SMSNotificationCreate) -> Notification:
    # The foreign key accepts a soft-deleted user; the contract does not, so check liveness first.
    if data.user_id is not None and UserRepository(session).get_by_id(data.user_id) is None:
        raise ValidationFailed("user_id does not name a live user", [{"loc": ["user_id"], "msg": "no such user"}])
    notification: Notification
    if isinstance(data, EmailNotificationCreate):
        notification = EmailNotification(message=data.message, email_address=data.email_address, user_id=data.user_id)
    else:
        notification = SMSNotification(message=data.message, phone_number=data.phone_number, user_id=data.user_id)
    NotificationRepository(session).save(notification)
    session.commit()
    return notification


def get_notification(session: Session, notification_id: int) -> Notification:
    notification = NotificationRepository(session).get_by_id(notification_id)
    if notification is None:
        raise NotFound("notification not found")
    return notification


def list_notifications(session: Session, page: int, per_page: int, kind: str | None = None) -> Pagination[Notification]:
    return NotificationRepository(session).list(page, per_page, kind=kind)


def list_user_notifications(session: Session, user_id: int, page: int, per_page: int) -> Pagination[Notification]:
    get_user(session, user_id)
    return NotificationRepository(session).list(page, per_page, user_id=user_id)
