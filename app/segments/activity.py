"""The activity rollup: one row per user and UTC day with at least one event.

Written at ingest for the events actually stored (a duplicate message id adds no day), with
``ON CONFLICT DO NOTHING``, keys sorted so concurrent batches take locks in one order.
Rebuilt from events by ``backfill`` (migration, bulk loads). Exact by construction: a day is
in the rollup if and only if an event of that user occurred on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, Date, cast, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.kit import sql
from app.models import Event, UserActivityDay

activity = UserActivityDay.__table__


def record(session: Session, workspace_id: uuid.UUID, stored_events: Iterable[Mapping[str, Any]]) -> None:
    """Mark the (user, day) of each stored event row (dicts with user_id and occurred_at)."""
    keys = {(row["user_id"], row["occurred_at"].astimezone(UTC).date()) for row in stored_events}
    if not keys:
        return
    rows = [{"workspace_id": workspace_id, "user_id": u, "day": d} for u, d in sorted(keys)]
    session.execute(sql.insert(session, UserActivityDay).on_conflict_do_nothing(), rows)


def backfill(connection: Connection, workspace_id: uuid.UUID | None = None) -> None:
    """Add the days of every stored event (of one workspace, or all), in one statement."""
    events = Event.__table__
    if connection.dialect.name == "postgresql":
        day: Any = cast(func.timezone("UTC", events.c.occurred_at), Date)
    else:
        day = func.date(events.c.occurred_at)
    # Sorted like the primary key, so the insert appends to the index instead of seeking.
    day = day.label("day")
    rows = select(events.c.workspace_id, events.c.user_id, day).distinct()
    rows = rows.order_by(events.c.workspace_id, events.c.user_id, day)
    if workspace_id is not None:
        rows = rows.where(events.c.workspace_id == workspace_id)
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(activity).from_select(["workspace_id", "user_id", "day"], rows).on_conflict_do_nothing()
    )
