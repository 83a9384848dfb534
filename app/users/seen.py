"""Users as ingest sees them, in bulk and by external id: create the unknown ones (as Segment
does), then widen each one's first/last seen.

Concurrency on Postgres: creating takes no lock on known users, so batches naming the same
users run side by side; only ``widen_seen`` locks rows, in id order (no deadlocks), and ingest
calls it last so those locks live only until the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.db import current_workspace
from app.kit.ids import uuid7_many
from app.models import SubscriptionState, User
from app.models.base import utcnow
from app.reports import activity_weeks
from app.users.service import new_user_row

SeenSpan = tuple[datetime, datetime]  # the first and last time a call saw a user

_users = User.__table__

_UNKNOWN_PG = """
SELECT external_id FROM {rows} AS seen(external_id)
WHERE NOT EXISTS (
  SELECT FROM users u WHERE u.workspace_id = %(workspace)b AND u.external_id = seen.external_id
)
"""

_CREATE_PG = """
INSERT INTO users (workspace_id, id, external_id, first_seen_at, last_seen_at, attributes,
                   email_status, push_status, in_app_status, created_at, updated_at)
SELECT %(workspace)b, id, external_id, first_seen_at, last_seen_at, '{}',
       %(status)b, %(status)b, %(status)b, %(now)b, %(now)b
FROM unnest(%(ids)b::uuid[], %(external_ids)b::text[], %(firsts)b::timestamptz[],
            %(lasts)b::timestamptz[]) AS seen(id, external_id, first_seen_at, last_seen_at)
ON CONFLICT (workspace_id, external_id) DO NOTHING
"""

# Lock the rows that need widening in id order first (LockRows sits above the sort), then
# update them; rows already wide enough (such as users just created) are left alone. Returns
# the users whose first_seen_at moved back (their retention cohort may move with it).
_WIDEN_PG = """
WITH due AS (
  SELECT u.id, seen.first_seen_at, seen.last_seen_at,
         u.first_seen_at > seen.first_seen_at AS moves_back
  FROM {rows} AS seen(external_id, first_seen_at, last_seen_at)
  JOIN users u ON u.workspace_id = %(workspace)b AND u.external_id = seen.external_id
  WHERE u.first_seen_at > seen.first_seen_at OR u.last_seen_at < seen.last_seen_at
  ORDER BY u.id
  FOR NO KEY UPDATE OF u
), widened AS (
  UPDATE users u
  SET first_seen_at = least(u.first_seen_at, due.first_seen_at),
      last_seen_at = greatest(u.last_seen_at, due.last_seen_at)
  FROM due
  WHERE u.workspace_id = %(workspace)b AND u.id = due.id
  RETURNING u.id, due.moves_back
)
SELECT id FROM widened WHERE moves_back
"""
_SPAN_COLUMNS = (("external_ids", "text"), ("firsts", "timestamptz"), ("lasts", "timestamptz"))
# Keyed by "one user": a single user gets statements of its own (see sql.rows).
_UNKNOWNS_PG = {one: _UNKNOWN_PG.format(rows=sql.rows(_SPAN_COLUMNS[:1], one=one)) for one in (True, False)}
_WIDENS_PG = {one: _WIDEN_PG.format(rows=sql.rows(_SPAN_COLUMNS, one=one)) for one in (True, False)}


def ensure_users(session: Session, seen: Mapping[str, SeenSpan]) -> dict[str, uuid.UUID]:
    """Create unknown users and widen the seen span of known ones; returns every user's id."""
    create_unknown_users(session, seen)
    widen_seen(session, seen)
    return user_ids(session, list(seen))


def create_unknown_users(session: Session, seen: Mapping[str, SeenSpan]) -> None:
    """Create the users ``seen`` names that do not exist yet, first and last seen as given."""
    if not seen:
        return
    if sql.is_postgres(session):
        _create_unknown_pg(session, seen)
        return
    known = user_ids(session, list(seen))
    unknown = {key: span for key, span in seen.items() if key not in known}
    if unknown:
        workspace_id, now = current_workspace(session), utcnow()
        rows = [new_user_row(workspace_id, key, first, last, now) for key, (first, last) in unknown.items()]
        session.execute(sql.insert(session, _users).on_conflict_do_nothing(), rows)


def widen_seen(session: Session, seen: Mapping[str, SeenSpan]) -> None:
    """Move first_seen_at back and last_seen_at forward where ``seen`` goes beyond them, and
    the retention cohort of the users whose first_seen_at moved back."""
    if not seen:
        return
    if sql.is_postgres(session):
        moved_back = _widen_pg(session, seen)
    else:
        _widen(session, seen)
        moved_back = set(user_ids(session, list(seen)).values())  # SQLite: check them all
    activity_weeks.move_cohorts(session, current_workspace(session), moved_back)


def user_ids(session: Session, external_ids: Collection[str]) -> dict[str, uuid.UUID]:
    rows = session.execute(select(User.external_id, User.id).where(User.external_id.in_(external_ids)))
    return {row.external_id: row.id for row in rows}


def _create_unknown_pg(session: Session, seen: Mapping[str, SeenSpan]) -> None:
    workspace_id = current_workspace(session)
    one = len(seen) == 1
    with sql.pg_cursor(session) as cur:
        params = {"workspace": workspace_id, **sql.row_params({"external_ids": list(seen)}, one=one)}
        cur.execute(_UNKNOWNS_PG[one], params)
        # Sorted, so concurrent batches creating the same users wait on each other in one order.
        unknown = sorted(external_id for (external_id,) in cur.fetchall())
        if not unknown:
            return
        params = {
            "workspace": workspace_id,
            "ids": uuid7_many(len(unknown)),
            "external_ids": unknown,
            "firsts": [seen[key][0] for key in unknown],
            "lasts": [seen[key][1] for key in unknown],
            "status": str(SubscriptionState.subscribed),
            "now": utcnow(),
        }
        cur.execute(_CREATE_PG, params)


def _widen_pg(session: Session, seen: Mapping[str, SeenSpan]) -> set[uuid.UUID]:
    """Widen; returns the users whose first_seen_at moved back."""
    columns = {
        "external_ids": list(seen),
        "firsts": [first for first, _ in seen.values()],
        "lasts": [last for _, last in seen.values()],
    }
    one = len(seen) == 1
    params = {"workspace": current_workspace(session), **sql.row_params(columns, one=one)}
    with sql.pg_cursor(session) as cur:
        cur.execute(_WIDENS_PG[one], params)
        return {user_id for (user_id,) in cur.fetchall()}


def _widen(session: Session, seen: Mapping[str, SeenSpan]) -> None:
    first, last = (
        bindparam("first", type_=_users.c.first_seen_at.type),
        bindparam("last", type_=_users.c.last_seen_at.type),
    )
    statement = (
        update(_users)
        .where(_users.c.workspace_id == current_workspace(session), _users.c.external_id == bindparam("key"))
        # SQLite's two-argument min/max are scalar
        .values(
            first_seen_at=func.min(_users.c.first_seen_at, first),
            last_seen_at=func.max(_users.c.last_seen_at, last),
        )
    )
    session.execute(statement, [{"key": key, "first": f, "last": la} for key, (f, la) in seen.items()])
