"""Recording what recipients did. ``record_engagement`` is the one write of an open, click,
unsubscribe or bounce, and updates the delivery ledger in the same place: every engagement
is a row (a user opening twice is two opens), and the delivery keeps the first open and
click (one unique open)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.db import current_workspace
from app.kit.ids import uuid7
from app.models import Delivery, DeliveryStatus, EmailSuppression, Engagement, Preference, User
from app.models.base import utcnow

_STATUS_COLUMNS = {"email": "email_status", "push": "push_status", "in_app": "in_app_status"}


# The ledger keeps the first open and click (unique counts) and how many of each there were
# (repeats included); engagements keep a row per repeat.
# A click proves an open even when the pixel was blocked.
def record_engagement(
    session: Session,
    *,
    user_id: uuid.UUID,
    delivery_id: uuid.UUID | None,
    channel: str,
    kind: str,
    url: str | None = None,
) -> None:
    now = utcnow()
    session.add(
        Engagement(
            workspace_id=current_workspace(session),
            user_id=user_id,
            delivery_id=delivery_id,
            channel=channel,
            kind=kind,
            url=url,
            occurred_at=now,
        )
    )
    if delivery_id is not None:
        _mark_delivery(session, delivery_id, kind, now)
    session.flush()


def _mark_delivery(session: Session, delivery_id: uuid.UUID, kind: str, now: datetime) -> None:
    """First open and first click; a click also proves an open the pixel did not see. Every
    open and click is counted on the row too, and the first unsubscribe kept, in the same
    statement as the engagement's own row: the funnel reads these instead of the engagements,
    and both stay equal (``backfill_counts`` rebuilds them). A bounce reported after the send
    fails the delivery."""
    values: dict[str, Any]
    is_delivery = [Delivery.workspace_id == current_workspace(session), Delivery.id == delivery_id]
    if kind == "open":
        values = {"opened_at": func.coalesce(Delivery.opened_at, now), "opens": Delivery.opens + 1}
    elif kind == "click":
        values = {
            "opened_at": func.coalesce(Delivery.opened_at, now),
            "clicked_at": func.coalesce(Delivery.clicked_at, now),
            "clicks": Delivery.clicks + 1,
        }
    elif kind == "unsubscribe":
        values = {"unsubscribed_at": func.coalesce(Delivery.unsubscribed_at, now)}
    elif kind == "bounce":
        is_delivery.append(Delivery.status.in_((DeliveryStatus.sent, DeliveryStatus.delivered)))
        values = {"status": DeliveryStatus.failed, "error": "bounced"}
    else:
        return
    session.execute(
        update(Delivery).where(*is_delivery).values(values).execution_options(synchronize_session=False)
    )


# Rebuilds the ledger's engagement counts from the engagements (a migration, bulk loads).
_BACKFILL_COUNTS = """
UPDATE deliveries SET opens = c.opens, clicks = c.clicks, unsubscribed_at = c.unsubscribed_at
FROM (
    SELECT workspace_id, delivery_id,
           SUM(CASE WHEN kind = 'open' THEN 1 ELSE 0 END) AS opens,
           SUM(CASE WHEN kind = 'click' THEN 1 ELSE 0 END) AS clicks,
           MIN(CASE WHEN kind = 'unsubscribe' THEN occurred_at END) AS unsubscribed_at
    FROM engagements
    WHERE delivery_id IS NOT NULL AND kind IN ('open', 'click', 'unsubscribe')
    GROUP BY workspace_id, delivery_id
) AS c
WHERE deliveries.workspace_id = c.workspace_id AND deliveries.id = c.delivery_id
"""


def backfill_counts(connection: Connection) -> None:
    """Set every ledger row's opens, clicks and first unsubscribe from its engagements, in one
    statement (Postgres and SQLite)."""
    connection.execute(text(_BACKFILL_COUNTS))


def user_exists(session: Session, user_id: uuid.UUID) -> bool:
    return session.scalars(select(User.id).where(User.id == user_id)).first() is not None


def set_preference(
    session: Session, *, user_id: uuid.UUID, channel: str, category: str | None, subscribed: bool
) -> None:
    """Without a category: the channel-wide switch on the user; with one: that category only."""
    if category is None:
        state = "subscribed" if subscribed else "unsubscribed"
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values({_STATUS_COLUMNS[channel]: state, "updated_at": utcnow()})
        )
        return
    now = utcnow()
    stmt = sql.insert(session, Preference).values(
        workspace_id=current_workspace(session),
        id=uuid7(),
        user_id=user_id,
        channel=channel,
        category=category,
        subscribed=subscribed,
        created_at=now,
        updated_at=now,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "user_id", "channel", "category"],
            set_={"subscribed": subscribed, "updated_at": now},
        )
    )


def suppress_email(session: Session, *, email: str, reason: str, detail: str | None = None) -> None:
    stmt = sql.insert(session, EmailSuppression).values(
        workspace_id=current_workspace(session),
        id=uuid7(),
        email=email.lower(),
        reason=reason,
        detail=(detail or "")[:500] or None,
        created_at=utcnow(),
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["workspace_id", "email"]))


def suppressed_emails(session: Session, emails: list[str]) -> set[str]:
    """Which of ``emails`` must not be mailed (for the dispatcher, one query per chunk)."""
    lowered = sorted({e.lower() for e in emails})
    if not lowered:
        return set()
    rows = session.scalars(select(EmailSuppression.email).where(EmailSuppression.email.in_(lowered)))
    return set(rows)


def unsubscribe_address(session: Session, *, email: str) -> None:
    session.execute(
        update(User)
        .where(func.lower(User.email) == email.lower())
        .values(email_status="unsubscribed", updated_at=utcnow())
    )
