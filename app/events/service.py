"""Event ingest: validate each item on its own, create unknown users, store idempotently.

One batch is three statements whatever its size: upsert the users it names, insert the
events (``ON CONFLICT DO NOTHING`` on the message id), and the transaction's commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.campaigns import triggers
from app.events.schemas import EventIn
from app.kit import sql
from app.kit.db import current_workspace
from app.kit.error_handlers import field_path
from app.kit.errors import Invalid, NudgeError, TooLarge
from app.kit.ids import uuid7
from app.models import Event
from app.segments import activity as segment_activity
from app.users.service import ensure_users

MAX_FUTURE = timedelta(days=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PROPERTIES_BYTES = 32 * 1024

_event_adapter: TypeAdapter[EventIn] = TypeAdapter(EventIn)


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    external_id: str
    name: str
    occurred_at: datetime
    properties: dict[str, Any]
    message_id: str | None


def parse_item(raw: Any, now: datetime) -> TrackedEvent:
    """Validate one raw item; raises a NudgeError naming the field at fault."""
    try:
        event = _event_adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"])
        raise Invalid(f"{where}: {first['msg']}", field=where) from None
    return to_tracked(event, now)


def to_tracked(event: EventIn, now: datetime) -> TrackedEvent:
    occurred = _utc(event.timestamp) if event.timestamp else now
    if occurred > now + MAX_FUTURE:
        raise Invalid("timestamp is more than a day in the future", field="timestamp")
    if event.properties and len(orjson.dumps(event.properties)) > MAX_PROPERTIES_BYTES:
        raise TooLarge(f"properties may take at most {MAX_PROPERTIES_BYTES} bytes", field="properties")
    return TrackedEvent(
        event.user_id, event.name, occurred.astimezone(UTC), event.properties, event.message_id
    )


def _utc(timestamp: datetime) -> datetime:
    """A client time as UTC (no offset means UTC); refuses instants before 1970."""
    try:
        occurred = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
    except OverflowError:
        occurred = EARLIEST - timedelta(days=1)
    if occurred < EARLIEST:
        raise Invalid("timestamp is before 1970", field="timestamp")
    return occurred


def ingest(session: Session, events: Sequence[TrackedEvent], received_at: datetime) -> list[uuid.UUID | None]:
    """Store events; returns each one's id, or None where its message_id was seen before."""
    if not events:
        return []
    workspace_id = current_workspace(session)
    seen: dict[str, datetime] = {}
    for event in events:
        if event.external_id not in seen or seen[event.external_id] < event.occurred_at:
            seen[event.external_id] = event.occurred_at
    user_ids = ensure_users(session, seen)
    ids: list[uuid.UUID | None] = []
    rows: list[dict[str, Any]] = []
    batch_message_ids: set[str] = set()
    for event in events:
        if event.message_id is not None:
            if event.message_id in batch_message_ids:
                ids.append(None)
                continue
            batch_message_ids.add(event.message_id)
        event_id = uuid7()
        ids.append(event_id)
        rows.append(
            {
                "workspace_id": workspace_id,
                "id": event_id,
                "user_id": user_ids[event.external_id],
                "name": event.name,
                "occurred_at": event.occurred_at,
                "received_at": received_at,
                "properties": event.properties,
                "message_id": event.message_id,
            }
        )
    stmt = sql.insert(session, Event).on_conflict_do_nothing(
        index_elements=["workspace_id", "message_id"], index_where=text("message_id IS NOT NULL")
    )
    if batch_message_ids:
        stored = set(session.execute(stmt.returning(Event.id), rows).scalars())
        ids = [i if i in stored else None for i in ids]
        segment_activity.record(session, workspace_id, (row for row in rows if row["id"] in stored))
    else:
        session.execute(stmt, rows)
        segment_activity.record(session, workspace_id, rows)
    # Campaign triggers: a cached name lookup here; matching runs in a task after the commit.
    triggers.handoff(session, workspace_id, zip(ids, (e.name for e in events), strict=True))
    return ids


def error_of(exc: NudgeError) -> dict[str, Any]:
    return {"code": str(exc.code), "message": exc.message, "field": exc.field}
