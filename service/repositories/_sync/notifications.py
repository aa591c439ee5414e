# Generated from the _async source by scripts/generate_sync.py (make generate). Do not edit.
"""Notifications: one repository for the single-table hierarchy; loads come back as their subclasses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.db.errors import FOREIGN_KEY_VIOLATION, sqlstate
from service.db.models import Notification
from service.errors import ValidationFailed
from service.pagination import Pagination
from service.repositories._sync.paging import paginate
from service.repositories.statements import by_id, by_id_params


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_id(self, notification_id: int) -> Notification | None:
        return (self.session.execute(by_id(Notification), by_id_params(notification_id))).scalar_one_or_none()

    def list(
        self, page: int, per_page: int, *, kind: str | None = None, user_id: int | None = None
    ) -> Pagination[Notification]:
        stmt = select(Notification).order_by(Notification.created_at.desc(), Notification.id.desc())
        if kind is not None:
            stmt = stmt.filter(Notification.type == kind)
        if user_id is not None:
            stmt = stmt.filter(Notification.user_id == user_id)
        return paginate(self.session, stmt, page, per_page)

    def save(self, notification: Notification) -> Notification:
        self.session.add(notification)
        try:
            self.session.flush()
        except IntegrityError as exc:
            if sqlstate(exc) == FOREIGN_KEY_VIOLATION:
                raise ValidationFailed(
                    "user_id does not name a live user", [{"loc": ["user_id"], "msg": "no such user"}]
                ) from None
            raise
        return notification
