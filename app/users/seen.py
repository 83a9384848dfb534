"""Users as ingest sees them, in bulk: find or create by external id (unknown users are created,
as Segment does), then widen each one's first/last seen.

Concurrency on Postgres: finding and creating takes no lock on existing users, so batches
naming the same users run side by side; only ``widen_seen`` locks rows, in id order (no
deadlocks), and ingest calls it last so the locks live only until the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.db import current_workspace
from app.kit.ids import uuid7_many
from app.kit.types import UtcDateTime
from app.models import SubscriptionState, User
from app.models.base import utcnow
from app.users.service import new_user_row

SeenSpan = tuple[datetime, datetime]  # the first and last time a call saw a user

_users = User.__table__

_FIND_PG = """
SELECT external_id, id FROM users
WHERE workspace_id = %(workspace)b AND external_id = ANY(%(external_ids)b::text[])
"""

_CREATE_PG = """
INSERT INTO users (workspace_id, id, external_id, first_seen_at, last_seen_at, attributes,
                   email_status, push_status, in_app_status, created_at, updated_at)
SELECT %(workspace)b, id, external_id, first_seen_at, last_seen_at, '{}',
       %(status)b, %(status)b, %(status)b, %(now)b, %(now)b
FROM unnest(%(ids)b::uuid[], %(external_ids)b::text[], %(firsts)b::timestamptz[],
            %(lasts)b::timestamptz[]) AS seen(id, external_id, first_seen_at, last_seen_at)
ON CONFLICT (workspace_id, external_id) DO NOTHING
RETURNING external_id, id
"""

# Lock the rows that need widening in id order first (LockRows sits above the sort), then
# update them; rows already wide enough are neither locked nor rewritten.
_WIDEN_PG = """
WITH seen AS (
  SELECT * FROM unnest(%(ids)b::uuid[], %(firsts)b::timestamptz[], %(lasts)b::timestamptz[])
    AS seen(id, first_seen_at, last_seen_at)
), due AS (
  SELECT u.id FROM users u JOIN seen s ON s.id = u.id
  WHERE u.workspace_id = %(workspace)b
    AND (u.first_seen_at > s.first_seen_at OR u.last_seen_at < s.last_seen_at)
  ORDER BY u.id
  FOR NO KEY UPDATE OF u
)
UPDATE users u
SET first_seen_at = least(u.first_seen_at, s.first_seen_at),
    last_seen_at = greatest(u.last_seen_at, s.last_seen_at)
FROM seen s JOIN due d ON d.id = s.id
WHERE u.workspace_id = %(workspace)b AND u.id = s.id
"""


def ensure_users(session: Session, seen: Mapping[str, SeenSpan]) -> dict[str, uuid.UUID]:
    """Create unknown users and widen the seen span of known ones; returns every user's id."""
    ids, created = find_or_create_users(session, seen)
    widen_seen(session, {ids[key]: span for key, span in seen.items() if key not in created})
    return ids


def find_or_create_users(
    session: Session, seen: Mapping[str, SeenSpan]
) -> tuple[dict[str, uuid.UUID], set[str]]:
    """Every user's id by external id, and which of them this call created."""
    if not seen:
        return {}, set()
    find, create = (_find_pg, _create_pg) if sql.is_postgres(session) else (_find, _create)
    ids = find(session, list(seen))
    # Sorted, so concurrent calls creating the same users wait on each other in one order.
    missing = sorted(key for key in seen if key not in ids)
    created = create(session, {key: seen[key] for key in missing}) if missing else {}
    ids.update(created)
    raced = [key for key in missing if key not in created]  # created meanwhile by another call
    if raced:
        ids.update(find(session, raced))
    return ids, set(created)


def widen_seen(session: Session, seen: Mapping[uuid.UUID, SeenSpan]) -> None:
    """Move first_seen_at back and last_seen_at forward where ``seen`` goes beyond them."""
    if not seen:
        return
    if sql.is_postgres(session):
        _widen_pg(session, seen)
    else:
        _widen(session, seen)


def _find_pg(session: Session, external_ids: list[str]) -> dict[str, uuid.UUID]:
    with sql.pg_cursor(session) as cur:
        cur.execute(_FIND_PG, {"workspace": current_workspace(session), "external_ids": external_ids})
        return dict(cur.fetchall())


def _create_pg(session: Session, seen: Mapping[str, SeenSpan]) -> dict[str, uuid.UUID]:
    params = {
        "workspace": current_workspace(session),
        "ids": uuid7_many(len(seen)),
        "external_ids": list(seen),
        "firsts": [first for first, _ in seen.values()],
        "lasts": [last for _, last in seen.values()],
        "status": str(SubscriptionState.subscribed),
        "now": utcnow(),
    }
    with sql.pg_cursor(session) as cur:
        cur.execute(_CREATE_PG, params)
        return dict(cur.fetchall())


def _widen_pg(session: Session, seen: Mapping[uuid.UUID, SeenSpan]) -> None:
    params = {
        "workspace": current_workspace(session),
        "ids": list(seen),
        "firsts": [first for first, _ in seen.values()],
        "lasts": [last for _, last in seen.values()],
    }
    with sql.pg_cursor(session) as cur:
        cur.execute(_WIDEN_PG, params)


def _find(session: Session, external_ids: list[str]) -> dict[str, uuid.UUID]:
    rows = session.execute(select(User.external_id, User.id).where(User.external_id.in_(external_ids)))
    return {row.external_id: row.id for row in rows}


def _create(session: Session, seen: Mapping[str, SeenSpan]) -> dict[str, uuid.UUID]:
    workspace_id, now = current_workspace(session), utcnow()
    rows = [new_user_row(workspace_id, key, first, last, now) for key, (first, last) in seen.items()]
    statement = sql.insert(session, _users).on_conflict_do_nothing()
    result = session.execute(statement.returning(_users.c.external_id, _users.c.id), rows)
    return {row.external_id: row.id for row in result}


def _widen(session: Session, seen: Mapping[uuid.UUID, SeenSpan]) -> None:
    users = _users
    first, last = bindparam("first", type_=UtcDateTime), bindparam("last", type_=UtcDateTime)
    statement = (
        update(users)
        .where(users.c.workspace_id == current_workspace(session), users.c.id == bindparam("user_id"))
        # SQLite's two-argument min/max are scalar
        .values(
            first_seen_at=func.min(users.c.first_seen_at, first),
            last_seen_at=func.max(users.c.last_seen_at, last),
        )
    )
    session.execute(
        statement, [{"user_id": user_id, "first": f, "last": la} for user_id, (f, la) in seen.items()]
    )
