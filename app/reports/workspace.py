"""Per-workspace reports: active users and stickiness, new users, events by name, messages
by channel, weekly retention cohorts. Days and weeks are local to the workspace zone.
Core queries, so each filters on workspace_id explicitly."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session

from app.models import Delivery, Event, User, Workspace
from app.reports import activity_weeks
from app.reports.conversions import SENT_STATUSES
from app.reports.periods import Period, period
from app.reports.sql import bucket_index

Rows = list[dict[str, Any]]

E = Event.__table__
U = User.__table__
D = Delivery.__table__


def _active_users(session: Session, workspace_id: uuid.UUID, last_day: date, days: int, zone: str) -> int:
    window = period(last_day - timedelta(days=days - 1), last_day, "day", zone)
    stmt = select(func.count(distinct(E.c.user_id))).where(
        E.c.workspace_id == workspace_id, E.c.occurred_at >= window.start, E.c.occurred_at < window.end
    )
    return int(session.scalar(stmt) or 0)


def activity(session: Session, workspace_id: uuid.UUID, day: date, zone: str) -> dict[str, Any]:
    """Users with any event on ``day``, in the 7 and 30 days ending on it; stickiness is
    DAU / MAU."""
    dau, wau, mau = (_active_users(session, workspace_id, day, n, zone) for n in (1, 7, 30))
    return {
        "day": day.isoformat(),
        "dau": dau,
        "wau": wau,
        "mau": mau,
        "stickiness": dau / mau if mau else 0.0,
    }


def _per_bucket(session: Session, column: Any, where: list[Any], span: Period, *keys: Any) -> Rows:
    bucket = bucket_index(session, column, span.edges).label("bucket")
    stmt = (
        select(bucket, *keys, func.count().label("count"))
        .where(*where, column >= span.start, column < span.end)
        .group_by(bucket, *keys)
        .order_by(bucket, *keys)
    )
    return [
        {
            "day": span.labels[row.bucket - 1],
            **{k.name: getattr(row, k.name) for k in keys},
            "count": row.count,
        }
        for row in session.execute(stmt)
    ]


def new_users(session: Session, workspace_id: uuid.UUID, span: Period) -> Rows:
    counted = {
        r["day"]: r["count"]
        for r in _per_bucket(session, U.c.first_seen_at, [U.c.workspace_id == workspace_id], span)
    }
    return [{"day": label, "count": counted.get(label, 0)} for label in span.labels]


def events_by_name(session: Session, workspace_id: uuid.UUID, span: Period) -> Rows:
    return _per_bucket(session, E.c.occurred_at, [E.c.workspace_id == workspace_id], span, E.c.name)


def messages_by_channel(session: Session, workspace_id: uuid.UUID, span: Period) -> Rows:
    where = [D.c.workspace_id == workspace_id, D.c.status.in_(SENT_STATUSES)]
    return _per_bucket(session, D.c.sent_at, where, span, D.c.channel)


def daily(session: Session, workspace_id: uuid.UUID, span: Period) -> dict[str, Rows]:
    """New users, events by name and messages by channel per bucket of ``span``."""
    return {
        "new_users": new_users(session, workspace_id, span),
        "events": events_by_name(session, workspace_id, span),
        "messages": messages_by_channel(session, workspace_id, span),
    }


def retention(session: Session, workspace_id: uuid.UUID, weeks: Period, zone: str) -> Rows:
    """Cohorts by the local week users were first seen; for each later week, how many of them
    had an event in it (week 0 is the cohort's own week). From the weekly rollup while it is
    kept in ``zone``, else (after a zone change, until it is rebuilt) from the events."""
    sizes = cohort_sizes(session, workspace_id, weeks)
    kept_in = session.scalar(select(Workspace.activity_weeks_zone).where(Workspace.id == workspace_id))
    counted = retained_weeks if kept_in == zone else retained
    return cohorts(weeks, sizes, counted(session, workspace_id, weeks))


def retained_weeks(session: Session, workspace_id: uuid.UUID, weeks: Period) -> dict[tuple[int, int], int]:
    """``retained`` from the weekly rollup (by (cohort, week) index)."""
    mondays = [datetime.fromisoformat(label).date() for label in weeks.labels]
    index = {monday: i for i, monday in enumerate(mondays, start=1)}
    counts = activity_weeks.retained(session, workspace_id, mondays[0], mondays[-1] + timedelta(weeks=1))
    return {(index[c], index[w]): n for (c, w), n in counts.items()}


def _cohort(session: Session, weeks: Period) -> Any:
    return bucket_index(session, U.c.first_seen_at, weeks.edges, "cohort_edges").label("cohort")


def cohort_sizes(session: Session, workspace_id: uuid.UUID, weeks: Period) -> dict[int, int]:
    """Users first seen in each week (by week index)."""
    cohort = _cohort(session, weeks)
    stmt = (
        select(cohort, func.count().label("users"))
        .where(
            U.c.workspace_id == workspace_id, U.c.first_seen_at >= weeks.start, U.c.first_seen_at < weeks.end
        )
        .group_by(cohort)
    )
    return {r.cohort: r.users for r in session.execute(stmt)}


def retained(session: Session, workspace_id: uuid.UUID, weeks: Period) -> dict[tuple[int, int], int]:
    """Users of each cohort with an event in each week, from their first-seen instant on (by
    (cohort, week) index). Each user's (cohort, week) pairs are made distinct once, then
    counted: a COUNT(DISTINCT) per group sorted every joined row again."""
    cohort = _cohort(session, weeks)
    active = bucket_index(session, E.c.occurred_at, weeks.edges, "active_edges").label("active")
    pairs = (
        select(U.c.id, cohort, active)
        .select_from(U.join(E, and_(E.c.workspace_id == U.c.workspace_id, E.c.user_id == U.c.id)))
        .where(
            U.c.workspace_id == workspace_id,
            E.c.workspace_id == workspace_id,
            U.c.first_seen_at >= weeks.start,
            U.c.first_seen_at < weeks.end,
            E.c.occurred_at >= U.c.first_seen_at,
            E.c.occurred_at < weeks.end,
        )
        .distinct()
        .subquery("pairs")
    )
    stmt = select(pairs.c.cohort, pairs.c.active, func.count().label("users"))
    return {
        (r.cohort, r.active): r.users for r in session.execute(stmt.group_by(pairs.c.cohort, pairs.c.active))
    }


def cohorts(weeks: Period, sizes: dict[int, int], retained: dict[tuple[int, int], int]) -> Rows:
    """The cohort table: one row per cohort week, its size and its users retained k weeks on."""
    count = len(weeks.labels)
    return [
        {
            "cohort": weeks.labels[c - 1],
            "users": sizes.get(c, 0),
            **{f"week_{k}": retained.get((c, c + k), 0) for k in range(count - c + 1)},
        }
        for c in range(1, count + 1)
    ]
