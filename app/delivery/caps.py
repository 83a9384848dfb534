"""Frequency caps over rolling windows, race-free.

The chunk's users are locked inside the claim's transaction (Postgres: advisory locks in key
order, so two chunks cannot deadlock and no row is written just to lock it; SQLite: its one
writer lock); the check and the recording of the messages about to go out happen under those
locks. Two chunks for one user at the same moment are serialised, so a cap of one lets
exactly one through.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.models import FrequencyState

F = FrequencyState.__table__


@dataclass(frozen=True, slots=True)
class Cap:
    channel: str | None  # None: messages on every channel count
    limit: int
    window: timedelta

    @classmethod
    def parse(cls, doc: Mapping[str, Any]) -> Cap:
        return cls(doc.get("channel"), int(doc["limit"]), timedelta(hours=float(doc["window_hours"])))


class CapBook:
    """The locked recent history of one chunk's users."""

    def __init__(self, caps: Sequence[Cap], recent: dict[uuid.UUID, list[list[Any]]], now: datetime) -> None:
        self.caps = caps
        self.stamp = now.timestamp()
        self.horizon = self.stamp - max(c.window for c in caps).total_seconds()
        self.recent = {user: [e for e in entries if e[0] > self.horizon] for user, entries in recent.items()}
        self.changed: set[uuid.UUID] = set()
        self.room_for_one = all(c.limit >= 1 for c in caps)  # the answer for users with no history

    def allows(self, user_id: uuid.UUID, channel: str, delivery_id: uuid.UUID) -> bool:
        recent = self.recent.get(user_id)
        if not recent:
            return self.room_for_one
        own = delivery_id.hex
        entries = [e for e in recent if e[2] != own]
        for cap in self.caps:
            since = self.stamp - cap.window.total_seconds()
            used = sum(1 for e in entries if e[0] > since and (cap.channel is None or e[1] == cap.channel))
            if used >= cap.limit:
                return False
        return True

    def record(self, user_id: uuid.UUID, channel: str, delivery_id: uuid.UUID) -> None:
        entries = self.recent.setdefault(user_id, [])
        own = delivery_id.hex
        if any(e[2] == own for e in entries):
            return
        entries.append([int(self.stamp), channel, own])
        self.changed.add(user_id)


def open_book(
    session: Session,
    workspace_id: uuid.UUID,
    user_ids: Iterable[uuid.UUID],
    caps: Sequence[Cap],
    now: datetime,
) -> CapBook:
    ids = sorted(set(user_ids), key=attrgetter("int"))  # one lock order for every chunk
    if not ids:
        return CapBook(caps, {}, now)
    if session.get_bind().dialect.name == "postgresql":
        recent = _lock_postgres(session, workspace_id, ids)
    else:  # SQLite: the INSERT takes the database's write lock, which serialises writers
        session.execute(
            sql.insert(session, FrequencyState).on_conflict_do_nothing(index_elements=["workspace_id", "id"]),
            [{"workspace_id": workspace_id, "id": user_id, "recent": []} for user_id in ids],
        )
        stmt = select(F.c.id, F.c.recent).where(F.c.workspace_id == workspace_id, F.c.id.in_(ids))
        recent = {row.id: list(row.recent or []) for row in session.connection().execute(stmt)}
    return CapBook(caps, recent, now)


# Every chunk takes its users' transaction-scoped advisory locks in key order (so two chunks
# cannot deadlock), then reads their histories: no row is written to lock it, and a user with
# no history yet (no row) is locked all the same. The history is written once, by ``save``.
LOCK_NAMESPACE = 0x6E75  # the advisory-lock key space of frequency caps ("nu")
_LOCK_POSTGRES = """
    SELECT pg_advisory_xact_lock(%(namespace)s, k) FROM (
        SELECT DISTINCT hashtext(u::text) AS k FROM unnest(%(ids)b::uuid[]) AS u ORDER BY k
    ) AS keys
    """
_READ_POSTGRES = """
    SELECT id, recent::text FROM frequency_states
    WHERE workspace_id = %(workspace_id)s AND id = ANY(%(ids)b::uuid[])
    """
# The histories travel as one JSON array (a text[] of JSON documents costs far more to send),
# unpacked beside the ids in the same order; new users' rows are created here.
_SAVE_POSTGRES = """
    INSERT INTO frequency_states (workspace_id, id, recent)
    SELECT %(workspace_id)s, v.id, v.recent FROM unnest(
        %(ids)b::uuid[], ARRAY(SELECT jsonb_array_elements(%(recents)s::jsonb))
    ) AS v(id, recent)
    ON CONFLICT (workspace_id, id) DO UPDATE SET recent = EXCLUDED.recent
    """


def _lock_postgres(
    session: Session, workspace_id: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    cursor = sql.pg_cursor(session)
    cursor.execute(_LOCK_POSTGRES, {"namespace": LOCK_NAMESPACE, "ids": ids})
    cursor.execute(_READ_POSTGRES, {"workspace_id": workspace_id, "ids": ids})
    return {row[0]: orjson.loads(row[1]) for row in cursor}


def save(session: Session, workspace_id: uuid.UUID, book: CapBook) -> None:
    changed = sorted(book.changed, key=attrgetter("int"))
    if not changed:
        return
    if session.get_bind().dialect.name == "postgresql":
        recents = orjson.dumps([book.recent[u] for u in changed]).decode()
        params = {"workspace_id": workspace_id, "ids": changed, "recents": recents}
        sql.pg_cursor(session).execute(_SAVE_POSTGRES, params)
        return
    stmt = (
        update(F)
        .where(F.c.workspace_id == bindparam("w"), F.c.id == bindparam("u"))
        .values(recent=bindparam("r", type_=F.c.recent.type))
    )
    rows = [{"w": workspace_id, "u": u, "r": book.recent[u]} for u in changed]
    session.connection().execute(stmt, rows)
