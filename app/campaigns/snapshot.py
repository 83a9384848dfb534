"""Audience snapshots: ``INSERT INTO deliveries ... SELECT ... FROM users ... ON CONFLICT DO
NOTHING``, one statement per zone wave (a large one split over user-id ranges on Postgres, see
``split``), so the database does the work and a second run (or a second planner) adds nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Uuid,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.orm import Session

from app.campaigns import split
from app.kit import sql
from app.kit.types import UtcDateTime
from app.models import Campaign, Delivery, DeliveryStatus, Event, Send, User
from app.models.delivery import LEDGER_KEY

ENGAGEMENT_WINDOW = timedelta(days=90)
_COLUMNS = (
    "workspace_id",
    "id",
    "send_id",
    "campaign_id",
    "user_id",
    "channel",
    "status",
    "due_at",
    "expires_at",
    "attempts",
    "created_at",
)


def _at(value: datetime | None) -> ColumnElement[Any]:
    """An instant as a typed SQL value (a bare NULL would be text in a Postgres subquery)."""
    return literal(value, UtcDateTime()) if value is not None else cast(null(), UtcDateTime())


def _expiry(campaign: Campaign) -> timedelta | None:
    minutes = campaign.limits.get("expire_after_minutes")
    return timedelta(minutes=minutes) if minutes else None


def insert_wave(
    session: Session,
    send: Send,
    campaign: Campaign,
    where: ColumnElement[bool],
    *,
    due_at: datetime,
    now: datetime,
    parallel: split.Parallel | None = None,
) -> int:
    """Queue every user matching ``where`` for ``due_at``; returns how many rows were new."""
    expiry = _expiry(campaign)
    due, expires = _at(due_at), _at(due_at + expiry if expiry else None)

    def statement(users: ColumnElement[bool]) -> Any:
        rows = select(User.id.label("user_id"), due.label("due_at"), expires.label("expires_at")).where(users)
        return _insert_from(session, send, campaign, rows.subquery(), now)

    return split.insert(session, send.workspace_id, where, statement, parallel)


def insert_by_habit(
    session: Session,
    send: Send,
    campaign: Campaign,
    where: ColumnElement[bool],
    *,
    by_hour: dict[int, datetime | None],
    fallback: datetime | None,
    events: tuple[str, ...],
    now: datetime,
) -> int:
    """Optimal-time wave: each user at the instant of the UTC hour they engage most. One
    statement: split, every part would aggregate the workspace's engagement again."""
    habit = best_hours(session, send.workspace_id, events, now=now)
    expiry = _expiry(campaign)

    def instant_of(shift: timedelta | None) -> ColumnElement[Any]:
        # Hours whose instant is skipped (past at launch) are absent, so they map to NULL.
        if shift is None:
            return _at(None)
        whens = {hour: _at(at + shift) for hour, at in by_hour.items() if at is not None}
        known = case(whens, value=habit.c.hour, else_=_at(None)) if whens else _at(None)
        orphan = _at(fallback + shift if fallback is not None else None)
        return case((habit.c.hour.is_(None), orphan), else_=known)

    joined = (
        select(
            User.id.label("user_id"),
            instant_of(timedelta(0)).label("due_at"),
            instant_of(expiry).label("expires_at"),
        )
        .outerjoin(habit, habit.c.user_id == User.id)
        .where(where)
        .subquery()
    )
    rows = select(joined.c.user_id, joined.c.due_at, joined.c.expires_at).where(joined.c.due_at.is_not(None))
    return session.connection().execute(_insert_from(session, send, campaign, rows.subquery(), now)).rowcount


def _insert_from(session: Session, send: Send, campaign: Campaign, rows: Any, now: datetime) -> Any:
    """The INSERT of ``rows`` (user_id, due_at, expires_at) as the send's queued deliveries."""
    source = select(
        literal(send.workspace_id, Uuid()),
        func.nudge_uuid7(),
        literal(send.id, Uuid()),
        literal(campaign.id, Uuid()),
        rows.c.user_id,
        literal(campaign.channel, String()),
        literal(DeliveryStatus.queued.value, String()),
        rows.c.due_at,
        rows.c.expires_at,
        literal(0, Integer()),
        _at(now),
    ).where(true())  # SQLite parses "SELECT ... ON CONFLICT" only after a WHERE
    return (
        sql.insert(session, Delivery)
        .from_select(list(_COLUMNS), source)
        .on_conflict_do_nothing(index_elements=LEDGER_KEY)
        .execution_options(preserve_rowcount=True)  # INSERT counts are not kept by default
    )


def utc_hour(session: Session, column: Any) -> ColumnElement[int]:
    """The UTC hour of a stored instant, whatever the connection's TimeZone setting."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(extract("hour", func.timezone("UTC", column)), Integer)
    return cast(extract("hour", column), Integer)


def best_hours(session: Session, workspace_id: uuid.UUID, events: tuple[str, ...], *, now: datetime) -> Any:
    """Per user, the UTC hour with the most engagement events in the last 90 days."""
    hour = utc_hour(session, Event.occurred_at)
    ranked = (
        select(
            Event.user_id,
            hour.label("hour"),
            func.row_number()
            .over(partition_by=Event.user_id, order_by=(func.count().desc(), hour))
            .label("rank"),
        )
        .where(
            and_(
                Event.workspace_id == workspace_id,
                Event.name.in_(events),
                Event.occurred_at >= now - ENGAGEMENT_WINDOW,
            )
        )
        .group_by(Event.user_id, hour)
        .subquery()
    )
    return select(ranked.c.user_id, ranked.c.hour).where(ranked.c.rank == 1).subquery()
