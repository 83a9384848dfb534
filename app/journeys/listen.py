"""Ingest wakes journeys: events that enter users (event entries), end a wait-for-event, or
meet a goal are handed to ``journeys.handle_events`` (a cached name lookup in ingest); the
task enters users, makes the listening states of those users due now and advances them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.campaigns.triggers import matches
from app.events.listeners import Listener
from app.journeys import definitions, entry
from app.journeys.schemas import EventEntry
from app.models import Event
from app.models.journey import Journey, JourneyStatus
from app.models.journey_state import JourneyState, StateStatus
from app.models.journey_version import JourneyVersion

HANDLE_TASK = "journeys.handle_events"


def _live_versions(session: Session) -> list[tuple[Journey, definitions.Version]]:
    """Every version of every live journey (users in flight may be on an older one)."""
    rows = session.execute(
        select(Journey, JourneyVersion.version)
        .join(
            JourneyVersion,
            (JourneyVersion.workspace_id == Journey.workspace_id) & (JourneyVersion.journey_id == Journey.id),
        )
        .where(Journey.status == JourneyStatus.live)
    ).all()
    loaded = definitions.load(session, {(j.id, number) for j, number in rows})
    return [(j, loaded[(j.id, number)]) for j, number in rows]


def _listened(session: Session) -> frozenset[str]:
    return frozenset(name for _, v in _live_versions(session) for name in v.definition.listened_events())


listener = Listener(HANDLE_TASK, _listened)


def handle(session: Session, event_ids: Sequence[uuid.UUID], *, now: datetime) -> tuple[int, int]:
    """Enter users for matching entry events and make states listening for these events due
    now. Returns (entered, woken)."""
    events = session.execute(
        select(Event.user_id, Event.name, Event.properties)
        .where(Event.id.in_(list(event_ids)))
        .order_by(Event.occurred_at)
    ).all()
    if not events:
        return 0, 0
    entered = 0
    listening: dict[uuid.UUID, set[str]] = {}
    for journey, version in _live_versions(session):
        names = version.definition.listened_events()
        listening.setdefault(journey.id, set()).update(names)
        current = version.definition
        if version.number != journey.version or not isinstance(current.entry, EventEntry):
            continue
        rule = current.entry
        wanted = [
            (e.user_id, {"name": e.name, "properties": e.properties or {}})
            for e in events
            if e.name == rule.event and matches(rule.filters, e.properties or {})
        ]
        if wanted:
            entered += entry.enter(session, journey, current, wanted, now=now)
    woken = 0
    for journey_id, names in listening.items():
        users = list({e.user_id for e in events if e.name in names})
        if users:
            result = session.execute(
                update(JourneyState)
                .where(
                    JourneyState.journey_id == journey_id,
                    JourneyState.user_id.in_(users),
                    JourneyState.status == StateStatus.active,
                    JourneyState.due_at > now,
                )
                .values(due_at=now)
            )
            woken += result.rowcount or 0  # type: ignore[attr-defined]
    return entered, woken
