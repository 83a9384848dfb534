"""The weekly activity rollup behind the retention cohorts: one row per user and local week
(its Monday) with at least one event, carrying the cohort, the local week of the user's
first_seen_at. Weeks are local calendar weeks on the clock of the workspace's
``activity_weeks_zone``; the report reads the rollup only while that is the workspace's zone.

It counts every event of a user's cohort week: ingest keeps first_seen_at at or before each of
the user's events (widening it), so none falls before it.

Kept equal to the events and users:
- ingest adds the weeks of the events it stores (Postgres: in the events insert itself;
  SQLite: ``record``), with the cohort of the user's first_seen_at as it reads it;
- widening first_seen_at moves the cohort of the users it moved back (``move_cohorts``);
- erasing a user deletes its rows (foreign key cascade);
- a zone change leaves the rollup in its old zone (still exact there): the report computes from
  the events until ``reports.rebuild_activity_weeks`` rebuilds it in the new zone;
- events retention keeps the rows, like the day rollup: cohorts keep counting the weeks whose
  events were purged (a rebuild, which reads the events, drops them).

Writers read ``activity_weeks_zone`` under ``FOR KEY SHARE`` and the rebuild takes the
workspace row ``FOR UPDATE`` first, so a rebuild waits for the writers in flight and the
writers after it see its zone. One race is left: a batch storing events of a user while another
one, concurrently, moves that user's first_seen_at back to an earlier week can commit rows with
the cohort it read; a rebuild repairs them.

A week is the local calendar week of the clock reading: where clocks go back across a Monday
midnight, the repeated hour reads as Sunday and counts in the week before, while the report's
period edges put it in the new week.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.timezones import local_week
from app.models import Event, User, UserActivityWeek, Workspace

weeks = UserActivityWeek.__table__


def rollup_zone(session: Session, workspace_id: uuid.UUID) -> str:
    """The zone the rollup is kept in, read under a key-share lock (see the module doc)."""
    stmt = select(Workspace.activity_weeks_zone).where(Workspace.id == workspace_id)
    if sql.is_postgres(session):
        stmt = stmt.with_for_update(key_share=True, read=True)
    return str(session.scalar(stmt))


def record(session: Session, workspace_id: uuid.UUID, stored: Iterable[tuple[uuid.UUID, datetime]]) -> None:
    """Add the (user, week) of each stored event (user id, occurred at), with the users'
    cohort as stored: SQLite's ingest path (after widening first_seen_at), and rows stored
    outside ingest."""
    pairs = set(stored)
    if not pairs:
        return
    zone = rollup_zone(session, workspace_id)
    users = {u for u, _ in pairs}
    first_seen = dict(session.execute(select(User.id, User.first_seen_at).where(User.id.in_(users))).all())
    keys = {(u, local_week(at, zone)) for u, at in pairs}
    rows = [
        {"workspace_id": workspace_id, "user_id": u, "week": w, "cohort": local_week(first_seen[u], zone)}
        for u, w in sorted(keys)
    ]
    session.execute(sql.insert(session, UserActivityWeek).on_conflict_do_nothing(), rows)


# A local week on Postgres: date_trunc('week', ...) of the wall time is its Monday.
_MOVE_PG = """
UPDATE user_activity_weeks w
SET cohort = date_trunc('week', u.first_seen_at AT TIME ZONE %(zone)s)::date
FROM users u
WHERE u.workspace_id = %(workspace)s AND u.id = ANY(%(users)s)
  AND w.workspace_id = %(workspace)s AND w.user_id = u.id
  AND w.cohort <> date_trunc('week', u.first_seen_at AT TIME ZONE %(zone)s)::date
"""


def move_cohorts(session: Session, workspace_id: uuid.UUID, user_ids: Collection[uuid.UUID]) -> None:
    """Set the cohort of these users' rows from their first_seen_at (after it moved back)."""
    if not user_ids:
        return
    zone = rollup_zone(session, workspace_id)  # locked first: see the module doc
    if sql.is_postgres(session):
        params = {"workspace": workspace_id, "users": list(user_ids), "zone": zone}
        with sql.pg_cursor(session) as cur:
            cur.execute(_MOVE_PG, params)
        return
    firsts = session.execute(select(User.id, User.first_seen_at).where(User.id.in_(user_ids))).all()
    moved = (
        update(weeks)
        .where(
            weeks.c.workspace_id == workspace_id,
            weeks.c.user_id == bindparam("moved_user"),
            weeks.c.cohort != bindparam("moved_cohort"),
        )
        .values(cohort=bindparam("moved_cohort"))
    )
    # One statement for every user (executemany), not one built per user.
    cohorts = [{"moved_user": u, "moved_cohort": local_week(first, zone)} for u, first in firsts]
    if cohorts:
        session.execute(moved, cohorts)


# Sorted like the primary key, so the insert appends to the index instead of seeking.
_BUILD_PG = """
INSERT INTO user_activity_weeks (workspace_id, user_id, week, cohort)
SELECT DISTINCT e.workspace_id, e.user_id,
       date_trunc('week', e.occurred_at AT TIME ZONE w.activity_weeks_zone)::date,
       date_trunc('week', u.first_seen_at AT TIME ZONE w.activity_weeks_zone)::date
FROM events e
JOIN users u ON u.workspace_id = e.workspace_id AND u.id = e.user_id
JOIN workspaces w ON w.id = e.workspace_id
WHERE e.workspace_id = ANY(%(workspaces)s)
ORDER BY 1, 2, 3
"""


def build_all(connection: Connection) -> None:
    """Fill the empty rollup of every workspace from its events, in its current zone."""
    connection.execute(text("UPDATE workspaces SET activity_weeks_zone = timezone"))
    workspace_ids = list(connection.scalars(select(Workspace.id)))
    if connection.dialect.name == "postgresql":
        with connection.connection.cursor() as cur:
            cur.execute(_BUILD_PG, {"workspaces": workspace_ids})
        return
    for workspace_id in workspace_ids:
        _build_sqlite(connection, workspace_id)


def rebuild(session: Session, workspace_id: uuid.UUID) -> bool:
    """Rebuild the workspace's rollup from its events in the workspace's zone, if it is kept in
    another; returns whether it did."""
    locked = select(Workspace.timezone, Workspace.activity_weeks_zone).where(Workspace.id == workspace_id)
    row = session.execute(locked.with_for_update()).one_or_none()
    if row is None or row.timezone == row.activity_weeks_zone:
        return False
    session.execute(
        Workspace.__table__.update()
        .where(Workspace.__table__.c.id == workspace_id)
        .values(activity_weeks_zone=row.timezone)
    )
    session.execute(weeks.delete().where(weeks.c.workspace_id == workspace_id))
    if sql.is_postgres(session):
        with sql.pg_cursor(session) as cur:
            cur.execute(_BUILD_PG, {"workspaces": [workspace_id]})
    else:
        _build_sqlite(session.connection(), workspace_id)
    return True


def _build_sqlite(connection: Connection, workspace_id: uuid.UUID) -> None:
    E, U = Event.__table__, User.__table__
    zone = connection.scalar(select(Workspace.activity_weeks_zone).where(Workspace.id == workspace_id))
    pairs = connection.execute(
        select(E.c.user_id, E.c.occurred_at, U.c.first_seen_at)
        .join(U, (U.c.workspace_id == E.c.workspace_id) & (U.c.id == E.c.user_id))
        .where(E.c.workspace_id == workspace_id)
    )
    rows: dict[tuple[uuid.UUID, date], date] = {}
    for user_id, occurred_at, first_seen_at in pairs:
        rows[(user_id, local_week(occurred_at, zone))] = local_week(first_seen_at, zone)
    if rows:
        connection.execute(
            weeks.insert(),
            [
                {"workspace_id": workspace_id, "user_id": u, "week": w, "cohort": c}
                for (u, w), c in sorted(rows.items())
            ],
        )


def retained(
    session: Session, workspace_id: uuid.UUID, first: date, end: date
) -> dict[tuple[date, date], int]:
    """Users of each cohort from ``first`` to before ``end`` active in each week before ``end``
    (by (cohort, week) Monday): an index-only scan of (workspace, cohort, week)."""
    stmt = (
        select(weeks.c.cohort, weeks.c.week, func.count())
        .where(
            weeks.c.workspace_id == workspace_id,
            weeks.c.cohort >= first,
            weeks.c.cohort < end,
            weeks.c.week >= weeks.c.cohort,
            weeks.c.week < end,
        )
        .group_by(weeks.c.cohort, weeks.c.week)
    )
    return {(c, w): n for c, w, n in session.execute(stmt).all()}
