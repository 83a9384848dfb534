"""Entering users into a journey, under its re-entry rule.

One statement reads the users' earlier passes; new passes are inserted ``ON CONFLICT DO
NOTHING``: the unique (journey, user, entry) key and the one-active-pass-per-user index make
two racing entries of the same user enter once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.journeys import bulk
from app.journeys.schemas import Definition
from app.kit.ids import uuid7
from app.models.journey import Journey
from app.models.journey_state import StateStatus

CHUNK = 5000


def _allowed(definition: Definition, last: Any, now: datetime) -> bool:
    """May a user with earlier pass ``last`` (None: never entered) enter again now?"""
    if last is None:
        return True
    if last.active:
        return False
    rule = definition.reentry
    if rule.mode == "once":
        return False
    if rule.mode == "every_n_days":
        return bool(last.entered_at <= now - timedelta(days=rule.days))
    return True


def enter(
    session: Session,
    journey: Journey,
    definition: Definition,
    users: Sequence[tuple[uuid.UUID, dict[str, Any]]],
    *,
    now: datetime,
) -> int:
    """Enter ``(user id, entry event)`` pairs (the first per user counts); returns how many entered."""
    entered = 0
    firsts: dict[uuid.UUID, dict[str, Any]] = {}
    for user_id, event in users:
        firsts.setdefault(user_id, event)
    pending = list(firsts.items())
    for start in range(0, len(pending), CHUNK):
        entered += _enter_chunk(session, journey, definition, pending[start : start + CHUNK], now)
    return entered


def _enter_chunk(
    session: Session,
    journey: Journey,
    definition: Definition,
    users: list[tuple[uuid.UUID, dict[str, Any]]],
    now: datetime,
) -> int:
    earlier = bulk.earlier_passes(session, journey.workspace_id, journey.id, [u for u, _ in users])
    rows = [
        {
            "workspace_id": journey.workspace_id,
            "id": uuid7(),
            "journey_id": journey.id,
            "version": journey.version,
            "user_id": user_id,
            "entry": (earlier[user_id].entry if user_id in earlier else 0) + 1,
            "status": StateStatus.active,
            "step": definition.entry.next,
            "seq": 0,
            "due_at": now,
            "event": event,
            "entered_at": now,
        }
        for user_id, event in users
        if _allowed(definition, earlier.get(user_id), now)
    ]
    return bulk.insert_states(session, rows)
