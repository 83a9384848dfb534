"""Reading and updating one user's inbox. Expired and dismissed items are never shown."""

from __future__ import annotations

import uuid
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app.inbox.schemas import InboxItemOut
from app.kit import sql
from app.kit.db import current_workspace
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


# The page and the unread count in one statement; the count is an uncorrelated subquery
# (computed once) that rides on each row. Filtered on workspace_id itself, as every statement
# on the driver's cursor is; the content arrives as text and is parsed with orjson.
_PAGE_PG = """
SELECT id, content::text, trigger, created_at, expires_at, read_at, (
  SELECT count(*) FROM inbox_items
  WHERE workspace_id = %(workspace)b AND user_id = %(user)b AND dismissed_at IS NULL
    AND (expires_at IS NULL OR expires_at > %(now)b) AND read_at IS NULL
)
FROM inbox_items
WHERE workspace_id = %(workspace)b AND user_id = %(user)b AND dismissed_at IS NULL
  AND (expires_at IS NULL OR expires_at > %(now)b)
ORDER BY id DESC
LIMIT %(limit)b
"""


def page(session: Session, user_id: uuid.UUID, *, limit: int) -> tuple[list[InboxItemOut], int]:
    """The newest items and the unread count, in one round trip. No row means nothing visible,
    so nothing unread."""
    now = utcnow()
    if sql.is_postgres(session):
        return _page_pg(session, user_id, limit, now)
    visible = _visible(user_id, now)
    unread = select(func.count()).select_from(InboxItem).where(*visible, InboxItem.read_at.is_(None))
    statement = (
        select(InboxItem, unread.scalar_subquery()).where(*visible).order_by(InboxItem.id.desc()).limit(limit)
    )
    rows = session.execute(statement).all()
    return [InboxItemOut.model_validate(item) for item, _ in rows], (rows[0][1] if rows else 0)


def _page_pg(
    session: Session, user_id: uuid.UUID, limit: int, now: datetime
) -> tuple[list[InboxItemOut], int]:
    params = {"workspace": current_workspace(session), "user": user_id, "now": now, "limit": limit}
    with sql.pg_cursor(session) as cur:
        cur.execute(_PAGE_PG, params)
        rows = cur.fetchall()
    items = [
        InboxItemOut(
            id=item_id,
            content=orjson.loads(content),
            trigger=trigger,
            created_at=created_at,
            expires_at=expires_at,
            read_at=read_at,
        )
        for item_id, content, trigger, created_at, expires_at, read_at, _ in rows
    ]
    return items, (rows[0][6] if rows else 0)


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
