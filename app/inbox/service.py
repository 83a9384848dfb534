"""Reading and updating one user's inbox. Expired and dismissed items are never shown."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.kit.errors import NotFound
from app.models import InboxItem
from app.models.base import utcnow
from app.tracking.service import record_engagement


def _visible(user_id: uuid.UUID, now: datetime) -> list[ColumnElement[bool]]:
    return [
        InboxItem.user_id == user_id,
        InboxItem.dismissed_at.is_(None),
        or_(InboxItem.expires_at.is_(None), InboxItem.expires_at > now),
    ]


def list_items(
    session: Session, user_id: uuid.UUID, *, limit: int = 50, after: uuid.UUID | None = None
) -> list[InboxItem]:
    """Newest first; with ``after``, only items newer than that one (for the live stream)."""
    conditions = _visible(user_id, utcnow())
    if after is not None:
        conditions.append(InboxItem.id > after)
    statement = select(InboxItem).where(*conditions).order_by(InboxItem.id.desc()).limit(limit)
    return list(session.scalars(statement))


def page(session: Session, user_id: uuid.UUID, *, limit: int) -> tuple[list[InboxItem], int]:
    """The newest items and the unread count, in one round trip: the count rides on each row as
    an uncorrelated subquery (computed once). No row means nothing visible, so nothing unread."""
    now = utcnow()
    visible = _visible(user_id, now)
    unread = select(func.count()).select_from(InboxItem).where(*visible, InboxItem.read_at.is_(None))
    statement = (
        select(InboxItem, unread.scalar_subquery()).where(*visible).order_by(InboxItem.id.desc()).limit(limit)
    )
    rows = session.execute(statement).all()
    return [item for item, _ in rows], (rows[0][1] if rows else 0)


def _get(session: Session, user_id: uuid.UUID, item_id: uuid.UUID) -> InboxItem:
    item = session.scalars(
        select(InboxItem).where(InboxItem.id == item_id, InboxItem.user_id == user_id)
    ).first()
    if item is None:
        raise NotFound("no such inbox item", field="item_id")
    return item


def mark_read(session: Session, user_id: uuid.UUID, item_id: uuid.UUID) -> InboxItem:
    """The first read counts as the message's open."""
    item = _get(session, user_id, item_id)
    if item.read_at is None:
        item.read_at = utcnow()
        record_engagement(
            session, user_id=user_id, delivery_id=item.delivery_id, channel="in_app", kind="open"
        )
    session.flush()
    return item


def dismiss(session: Session, user_id: uuid.UUID, item_id: uuid.UUID) -> None:
    item = _get(session, user_id, item_id)
    if item.dismissed_at is None:
        item.dismissed_at = utcnow()
    session.flush()
