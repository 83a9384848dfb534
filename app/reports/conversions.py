"""Conversions: the campaign's goal event within its window after a delivery, attributed
last-touch, written to ``deliveries.converted_at`` by one set-based statement per campaign.

The window starts when the message was sent (or opened, if the goal says so). Control-group
rows were never sent: their window starts when they would have been (``due_at``, the moment
the dispatcher settled them), so their conversion rate is the baseline that gives lift.
Last touch: an event converts only the latest of the user's qualifying deliveries of this
campaign before it. ``converted_at`` is written once (the first converting event), so running
this again changes nothing.

Incremental: each campaign keeps ``conversions_through``, a goal-event id (UUIDv7, in the
order events were received) up to which every event has been attributed. A pass reads only
the events after it (a range of the events' primary key), so a report attributes just the
last minutes' events instead of every event since the launch. The background task moves the
mark forward, but never past an event that could still meet a row not settled yet:
``SETTLE_LAG`` before now (an ingest transaction still committing, a dispatcher still writing
``sent_at``), and no later than the oldest due row still queued or sending (a control row's
window starts at its ``due_at`` though it is written when the dispatcher gets to it).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.campaigns.schemas import Goal
from app.delivery import ledger
from app.delivery.rules import CONTROL
from app.kit.ids import uuid7_floor
from app.models import Campaign, Delivery, DeliveryStatus, Event, Send, SendStatus
from app.models.delivery import suppressed
from app.reports.sql import json_contains, plus_hours

C = Campaign.__table__
D = Delivery.__table__
E = Event.__table__
CONTROL_STATUS = suppressed(CONTROL)
SENT_STATUSES = (DeliveryStatus.sent.value, DeliveryStatus.delivered.value)
SETTLE_LAG = timedelta(minutes=2)


def _anchor(rows: Any, goal: Goal) -> Any:
    """When the row's window opens; NULL for rows that cannot convert (failed, suppressed...)."""
    start = rows.c.opened_at if goal.after == "open" else rows.c.sent_at
    return case(
        (rows.c.status == CONTROL_STATUS, rows.c.due_at),
        (rows.c.status.in_(SENT_STATUSES), start),
        else_=None,
    )


def attribute(
    session: Session,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    goal: Goal,
    *,
    since: datetime | None,
    after: uuid.UUID | None = None,
) -> int:
    """Set ``converted_at`` on the campaign's newly converted rows; returns how many."""
    stmt = attribution(session, workspace_id, campaign_id, goal, since=since, after=after)
    return session.execute(stmt).rowcount or 0


def attribution(
    session: Session,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    goal: Goal,
    *,
    since: datetime | None,
    after: uuid.UUID | None = None,
) -> Update:
    """The UPDATE statement ``attribute`` runs: goal events that occurred after ``since`` (the
    launch: nothing earlier can convert) and, with ``after``, were received after that event
    id.

    Driven from the goal events (an index range) to each event's last touch among the user's
    deliveries of this campaign (the deliveries index by campaign and user), rather than from
    every delivery to every event of its user."""
    events = select(E.c.user_id, E.c.occurred_at).where(
        E.c.workspace_id == workspace_id,
        E.c.name == goal.event,
        *([E.c.occurred_at > since] if since is not None else []),
        *([E.c.id > after] if after is not None else []),
        *json_contains(session, E.c.properties, goal.properties),
    )
    goal_events = events.subquery("goal_events")
    anchor = _anchor(D, goal)
    touches = (
        select(
            D.c.id,
            anchor.label("anchor"),
            goal_events.c.occurred_at,
            func.row_number()
            .over(partition_by=(goal_events.c.user_id, goal_events.c.occurred_at), order_by=anchor.desc())
            .label("recency"),
        )
        .select_from(
            goal_events.join(
                D,
                and_(
                    D.c.workspace_id == workspace_id,
                    D.c.campaign_id == campaign_id,
                    D.c.user_id == goal_events.c.user_id,
                ),
            )
        )
        .where(anchor < goal_events.c.occurred_at)  # NULL for rows that cannot convert
        .subquery("touches")
    )
    first = (
        select(touches.c.id, func.min(touches.c.occurred_at).label("converted_at"))
        .where(
            touches.c.recency == 1,
            touches.c.occurred_at <= plus_hours(session, touches.c.anchor, goal.window_hours),
        )
        .group_by(touches.c.id)
        .subquery("first")
    )
    return (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.id == first.c.id, D.c.converted_at.is_(None))
        .values(converted_at=first.c.converted_at)
    )


def attribute_campaign(session: Session, campaign: Campaign) -> int:
    """Attribute the campaign's goal events received since its mark (all since the launch
    before the first mark); 0 without a goal."""
    if campaign.goal is None:
        return 0
    goal = Goal.model_validate(campaign.goal)
    return attribute(
        session,
        campaign.workspace_id,
        campaign.id,
        goal,
        since=campaign.launched_at,
        after=campaign.conversions_through,
    )


def catch_up(session: Session, campaign: Campaign, *, now: datetime) -> int:
    """``attribute_campaign``, then move the mark as far as it is safe (see above)."""
    converted = attribute_campaign(session, campaign)
    if campaign.goal is None:
        return converted
    safe = now - SETTLE_LAG
    active = select(Send.id).where(
        Send.campaign_id == campaign.id, Send.status.in_((SendStatus.planning, SendStatus.dispatching))
    )
    sends = active.scalar_subquery()
    unsettled = ledger.earliest_unfinished(session, campaign.workspace_id, sends, due_by=now)
    if unsettled is not None:
        safe = min(safe, unsettled)
    mark = uuid7_floor(int(safe.timestamp() * 1000))
    # Only forward (two passes may overlap), and not an edit: updated_at keeps its value.
    session.execute(
        update(C)
        .where(
            C.c.workspace_id == campaign.workspace_id,
            C.c.id == campaign.id,
            or_(C.c.conversions_through.is_(None), C.c.conversions_through < mark),
        )
        .values(conversions_through=mark, updated_at=C.c.updated_at)
    )
    session.expire(campaign, ["conversions_through"])
    return converted
