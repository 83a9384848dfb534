"""Conversions: the campaign's goal event within its window after a delivery, attributed
last-touch, written to ``deliveries.converted_at`` by one set-based statement per campaign.

The window starts when the message was sent (or opened, if the goal says so). Control-group
rows were never sent: their window starts when they would have been (``due_at``, the moment
the dispatcher settled them), so their conversion rate is the baseline that gives lift.
Last touch: an event converts only the latest of the user's qualifying deliveries of this
campaign before it. ``converted_at`` is written once (the first converting event), so running
this again changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app.campaigns.schemas import Goal
from app.delivery.rules import CONTROL
from app.models import Delivery, DeliveryStatus, Event
from app.models.delivery import suppressed
from app.reports.sql import json_contains, plus_hours

D = Delivery.__table__
E = Event.__table__
CONTROL_STATUS = suppressed(CONTROL)
SENT_STATUSES = (DeliveryStatus.sent.value, DeliveryStatus.delivered.value)


def _anchor(rows: Any, goal: Goal) -> Any:
    """When the row's window opens; NULL for rows that cannot convert (failed, suppressed...)."""
    start = rows.c.opened_at if goal.after == "open" else rows.c.sent_at
    return case(
        (rows.c.status == CONTROL_STATUS, rows.c.due_at),
        (rows.c.status.in_(SENT_STATUSES), start),
        else_=None,
    )


def attribute(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, goal: Goal) -> int:
    """Set ``converted_at`` on the campaign's newly converted rows; returns how many."""
    later = D.alias("later")
    anchor = _anchor(D, goal)
    later_anchor = _anchor(later, goal)
    superseded = exists().where(
        later.c.workspace_id == workspace_id,
        later.c.campaign_id == campaign_id,
        later.c.user_id == D.c.user_id,
        later_anchor > anchor,
        later_anchor < E.c.occurred_at,
    )
    first = (
        select(D.c.id, func.min(E.c.occurred_at).label("converted_at"))
        .select_from(D.join(E, and_(E.c.workspace_id == D.c.workspace_id, E.c.user_id == D.c.user_id)))
        .where(
            D.c.workspace_id == workspace_id,
            D.c.campaign_id == campaign_id,
            D.c.converted_at.is_(None),
            or_(D.c.status == CONTROL_STATUS, D.c.status.in_(SENT_STATUSES)),
            E.c.name == goal.event,
            E.c.occurred_at > anchor,
            E.c.occurred_at <= plus_hours(session, anchor, goal.window_hours),
            *json_contains(session, E.c.properties, goal.properties),
            ~superseded,
        )
        .group_by(D.c.id)
        .subquery("first")
    )
    stmt = (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.id == first.c.id)
        .values(converted_at=first.c.converted_at)
    )
    return session.execute(stmt).rowcount or 0
