"""Event ingest: validate each item on its own, create unknown users, store idempotently.

One batch is a handful of statements whatever its size: create the users it names that do not
exist yet, insert the events (``ON CONFLICT DO NOTHING`` on the message id) together with the
(user, day) rows of the activity rollup, widen the users' first/last seen, and the
transaction's commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.campaigns import triggers
from app.events.fast_validation import plainly_valid
from app.events.schemas import EventIn
from app.journeys import listen as journeys
from app.kit import sql
from app.kit.db import current_workspace
from app.kit.error_handlers import field_path
from app.kit.errors import Invalid, NudgeError, TooLarge
from app.kit.ids import uuid7_many
from app.models import Event
from app.reports import activity_weeks
from app.segments import activity as segment_activity
from app.users.seen import SeenSpan, create_unknown_users, user_ids, widen_seen

MAX_FUTURE = timedelta(days=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PROPERTIES_BYTES = 32 * 1024

_event_adapter: TypeAdapter[EventIn] = TypeAdapter(EventIn)

# Users are found by external id in the same statement. Rows go in in the order given (see
# _insert_pg); a user missing here would leave user_id NULL and fail the statement, not vanish.
# The activity rollup gets the (user, UTC day) of the events actually stored (a duplicate
# message id adds no day) from RETURNING, sorted like its primary key so concurrent batches
# wait on each other in one order. So does the weekly rollup (app/reports/activity_weeks.py),
# with the cohort of the user's first_seen_at as stored: widening it afterwards moves the
# cohort if it moved back.
_INSERT_PG = """
WITH stored AS (
  INSERT INTO events (workspace_id, id, user_id, name, occurred_at, received_at, properties, message_id)
  SELECT %(workspace)b, batch.id, u.id, batch.name, batch.occurred_at, %(received_at)b,
         batch.properties::jsonb, batch.message_id
  FROM {rows} AS batch(id, external_id, name, occurred_at, properties, message_id, position)
  LEFT JOIN users u ON u.workspace_id = %(workspace)b AND u.external_id = batch.external_id
  ORDER BY batch.position
  ON CONFLICT (workspace_id, message_id) WHERE message_id IS NOT NULL DO NOTHING
  RETURNING id, user_id, occurred_at
), days AS (
  INSERT INTO user_activity_days (workspace_id, user_id, day)
  SELECT DISTINCT %(workspace)b::uuid, user_id, (occurred_at AT TIME ZONE 'UTC')::date FROM stored
  ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING
), weeks AS (
  INSERT INTO user_activity_weeks (workspace_id, user_id, week, cohort)
  SELECT DISTINCT %(workspace)b::uuid, s.user_id,
         date_trunc('week', s.occurred_at AT TIME ZONE z.activity_weeks_zone)::date,
         date_trunc('week', u.first_seen_at AT TIME ZONE z.activity_weeks_zone)::date
  FROM stored s
  JOIN users u ON u.workspace_id = %(workspace)b AND u.id = s.user_id
  CROSS JOIN (SELECT activity_weeks_zone FROM workspaces WHERE id = %(workspace)b FOR KEY SHARE) z
  ORDER BY 1, 2, 3
  ON CONFLICT DO NOTHING
)
SELECT id FROM stored
"""
_EVENT_COLUMNS = (
    ("ids", "uuid"),
    ("external_ids", "text"),
    ("names", "text"),
    ("occurred", "timestamptz"),
    ("properties", "text"),
    ("message_ids", "text"),
)
# Keyed by "one event": a single event gets a statement of its own (see sql.rows).
_INSERTS_PG = {
    one: _INSERT_PG.format(rows=sql.rows(_EVENT_COLUMNS, one=one, ordinality=True)) for one in (True, False)
}


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    external_id: str
    name: str
    occurred_at: datetime
    properties: dict[str, Any]
    properties_json: bytes  # encoded once: measured against the limit, then stored
    message_id: str | None


def parse_item(raw: Any, now: datetime) -> TrackedEvent:
    """Validate one raw item; raises a NudgeError naming the field at fault."""
    plain = plainly_valid(raw)
    if plain is not None:
        return _tracked(
            plain.user_id,
            plain.name,
            plain.timestamp,
            plain.properties,
            plain.message_id,
            now,
            properties_json=plain.properties_json,
        )
    try:
        event = _event_adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"])
        raise Invalid(f"{where}: {first['msg']}", field=where) from None
    return to_tracked(event, now)


def to_tracked(event: EventIn, now: datetime) -> TrackedEvent:
    return _tracked(event.user_id, event.name, event.timestamp, event.properties, event.message_id, now)


def _tracked(
    external_id: str,
    name: str,
    timestamp: datetime | None,
    properties: dict[str, Any],
    message_id: str | None,
    now: datetime,
    *,
    properties_json: bytes | None = None,
) -> TrackedEvent:
    occurred = _utc(timestamp) if timestamp else now
    if occurred > now + MAX_FUTURE:
        raise Invalid("timestamp is more than a day in the future", field="timestamp")
    encoded = orjson.dumps(properties) if properties_json is None else properties_json
    if len(encoded) > MAX_PROPERTIES_BYTES:
        raise TooLarge(f"properties may take at most {MAX_PROPERTIES_BYTES} bytes", field="properties")
    return TrackedEvent(external_id, name, occurred, properties, encoded, message_id)


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
    if sql.is_postgres(session) and len(events) > 1:
        # The working set is cached or on SSD, where a random page costs about what a sequential
        # one does. At the default (4) the planner answers a thousand-key bulk statement with a
        # hash join over the whole users table instead of probing the index a thousand times.
        # Only for this transaction: elsewhere (the dispatcher's claim) the low cost picks
        # plans that are far worse on freshly loaded tables. One event is one index probe at
        # any cost setting: not worth a round trip.
        session.execute(text("SET LOCAL random_page_cost = 1.1"))
    spans = _seen_spans(events)
    create_unknown_users(session, spans)
    ids = _store(session, events, received_at)
    workspace_id = current_workspace(session)
    if not sql.is_postgres(session):  # on Postgres the insert wrote the rollup too
        _record_activity_days(session, workspace_id, ids, events)
    # Campaign triggers: a cached name lookup here; matching runs in a task after the commit.
    names = [e.name for e in events]
    triggers.handoff(session, workspace_id, zip(ids, names, strict=True))
    journeys.listener.handoff(session, workspace_id, zip(ids, names, strict=True))
    # Last before the commit: widening locks the users' rows until then.
    widen_seen(session, spans)
    if not sql.is_postgres(session):
        stored = [(e.external_id, e.occurred_at) for event_id, e in zip(ids, events, strict=True) if event_id]
        users = user_ids(session, {key for key, _ in stored})
        activity_weeks.record(session, workspace_id, [(users[key], at) for key, at in stored])
    return ids


def _record_activity_days(
    session: Session, workspace_id: uuid.UUID, ids: list[uuid.UUID | None], events: Sequence[TrackedEvent]
) -> None:
    """The segments' activity rollup: the (user, day) of every event actually stored."""
    stored = [event for event_id, event in zip(ids, events, strict=True) if event_id is not None]
    if not stored:
        return
    users = user_ids(session, {event.external_id for event in stored})
    days = ({"user_id": users[e.external_id], "occurred_at": e.occurred_at} for e in stored)
    segment_activity.record(session, workspace_id, days)


def _seen_spans(events: Iterable[TrackedEvent]) -> dict[str, SeenSpan]:
    spans: dict[str, SeenSpan] = {}
    for event in events:
        at = event.occurred_at
        first, last = spans.get(event.external_id, (at, at))
        spans[event.external_id] = (min(first, at), max(last, at))
    return spans


def _store(session: Session, events: Sequence[TrackedEvent], received_at: datetime) -> list[uuid.UUID | None]:
    """Insert the events; a message_id already stored, or repeated in the batch, is a duplicate."""
    ids: list[uuid.UUID | None] = []
    fresh: list[tuple[uuid.UUID, TrackedEvent]] = []
    batch_message_ids: set[str] = set()
    for event_id, event in zip(uuid7_many(len(events)), events, strict=True):
        if event.message_id is not None:
            if event.message_id in batch_message_ids:
                ids.append(None)
                continue
            batch_message_ids.add(event.message_id)
        fresh.append((event_id, event))
        ids.append(event_id)
    insert = _insert_pg if sql.is_postgres(session) else _insert
    stored = insert(session, fresh, received_at)
    return [event_id if event_id in stored else None for event_id in ids]


def _insert_pg(
    session: Session, fresh: list[tuple[uuid.UUID, TrackedEvent]], received_at: datetime
) -> set[uuid.UUID]:
    # In message_id order, so concurrent batches sharing message ids wait on each other in
    # one order (no deadlock).
    fresh = sorted(fresh, key=lambda pair: (pair[1].message_id is None, pair[1].message_id or ""))
    columns = {
        "ids": [event_id for event_id, _ in fresh],
        "external_ids": [event.external_id for _, event in fresh],
        "names": [event.name for _, event in fresh],
        "occurred": [event.occurred_at for _, event in fresh],
        "properties": [event.properties_json.decode() for _, event in fresh],
        "message_ids": [event.message_id for _, event in fresh],
    }
    one = len(fresh) == 1
    params = {
        "workspace": current_workspace(session),
        "received_at": received_at,
        **sql.row_params(columns, one=one),
    }
    with sql.pg_cursor(session) as cur:
        cur.execute(_INSERTS_PG[one], params)
        return {row[0] for row in cur.fetchall()}


def _insert(
    session: Session, fresh: list[tuple[uuid.UUID, TrackedEvent]], received_at: datetime
) -> set[uuid.UUID]:
    workspace_id = current_workspace(session)
    users = user_ids(session, {event.external_id for _, event in fresh})
    rows = [
        {
            "workspace_id": workspace_id,
            "id": event_id,
            "user_id": users[event.external_id],
            "name": event.name,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "properties": event.properties,
            "message_id": event.message_id,
        }
        for event_id, event in fresh
    ]
    statement = sql.insert(session, Event).on_conflict_do_nothing(
        index_elements=["workspace_id", "message_id"], index_where=text("message_id IS NOT NULL")
    )
    return set(session.execute(statement.returning(Event.id), rows).scalars())


def error_of(exc: NudgeError) -> dict[str, Any]:
    return {"code": str(exc.code), "message": exc.message, "field": exc.field}
