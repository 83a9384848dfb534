"""Journeys: create, edit, and the life cycle draft -> live <-> paused -> archived.

Editing a draft rewrites its only version; editing a journey that has been launched adds a
version that new entrants get, while users in flight finish on theirs. Life-cycle calls lock
the journey row, so two clicks act once. Services flush; the request commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.delivery import ledger
from app.journeys import entry, graph, listen, sends
from app.journeys.schemas import Definition, JourneyCreate, JourneyUpdate
from app.kit.db import current_workspace
from app.kit.errors import Conflict, Invalid, NotFound
from app.kit.pagination import decode_cursor, encode_cursor
from app.models import Campaign, CampaignStatus, User
from app.models.journey import Journey, JourneyStatus
from app.models.journey_state import JourneyState, StateStatus
from app.models.journey_version import JourneyVersion

_CAMPAIGN_STATUS = {
    JourneyStatus.draft: CampaignStatus.draft,
    JourneyStatus.live: CampaignStatus.running,
    JourneyStatus.paused: CampaignStatus.paused,
    JourneyStatus.archived: CampaignStatus.cancelled,
}


def get(session: Session, journey_id: uuid.UUID, *, lock: bool = False) -> Journey:
    stmt = select(Journey).where(Journey.id == journey_id)
    journey = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if journey is None:
        raise NotFound("no such journey", field="journey_id")
    return journey


def version(session: Session, journey: Journey, number: int | None = None) -> JourneyVersion:
    """The journey's version ``number`` (default: the one new entrants get)."""
    found = session.scalars(
        select(JourneyVersion).where(
            JourneyVersion.journey_id == journey.id, JourneyVersion.version == (number or journey.version)
        )
    ).first()
    if found is None:
        raise NotFound(f"the journey has no version {number}", field="version")
    return found


def definition(session: Session, journey: Journey) -> Definition:
    return Definition.model_validate(version(session, journey).definition)


def _add_version(session: Session, journey: Journey, number: int, body: Definition, *, now: datetime) -> None:
    doc = body.model_dump(mode="json", exclude_none=True)
    campaigns = sends.create_campaigns(
        session,
        journey,
        number,
        body,
        status=_CAMPAIGN_STATUS[journey.status],
        launched_at=now if journey.launched_at else None,
    )
    session.add(
        JourneyVersion(
            workspace_id=journey.workspace_id,
            journey_id=journey.id,
            version=number,
            definition=doc,
            campaigns=campaigns,
            created_at=now,
        )
    )


def create(session: Session, body: JourneyCreate, *, now: datetime) -> Journey:
    graph.check(session, body.definition)
    journey = Journey(
        workspace_id=current_workspace(session), name=body.name, status=JourneyStatus.draft, version=1
    )
    session.add(journey)
    session.flush()
    _add_version(session, journey, 1, body.definition, now=now)
    session.flush()
    return journey


def list_journeys(session: Session, *, limit: int, cursor: str | None) -> tuple[list[Journey], str | None]:
    stmt = select(Journey).order_by(Journey.id).limit(limit + 1)
    if cursor:
        stmt = stmt.where(Journey.id > decode_cursor(cursor))
    rows = list(session.scalars(stmt))
    return rows[:limit], encode_cursor(rows[limit - 1].id) if len(rows) > limit else None


def update_journey(session: Session, journey_id: uuid.UUID, body: JourneyUpdate, *, now: datetime) -> Journey:
    journey = get(session, journey_id, lock=True)
    if journey.status == JourneyStatus.archived:
        raise Conflict("an archived journey cannot change", field="journey_id")
    if body.name is not None:
        journey.name = body.name
    if body.definition is not None:
        graph.check(session, body.definition)
        if journey.launched_at is None:  # a draft: its only version is rewritten
            old = version(session, journey)
            session.execute(delete(Campaign).where(Campaign.id.in_(sends.campaign_ids(session, journey.id))))
            session.delete(old)
            session.flush()
            _add_version(session, journey, journey.version, body.definition, now=now)
        else:
            journey.version += 1
            _add_version(session, journey, journey.version, body.definition, now=now)
            listen.listener.forget(journey.workspace_id)
    session.flush()
    return journey


def _move(session: Session, journey: Journey, status: JourneyStatus, *, now: datetime) -> None:
    journey.status = status
    sends.set_status(session, journey.id, _CAMPAIGN_STATUS[status], now=now)
    listen.listener.forget(journey.workspace_id)


def launch(session: Session, journey_id: uuid.UUID, *, now: datetime) -> Journey:
    """draft or paused -> live (a paused journey resumes where its users were)."""
    journey = get(session, journey_id, lock=True)
    if journey.status == JourneyStatus.live:
        raise Conflict("the journey is live already", field="journey_id")
    if journey.status == JourneyStatus.archived:
        raise Conflict("an archived journey cannot be launched", field="journey_id")
    journey.launched_at = journey.launched_at or now
    _move(session, journey, JourneyStatus.live, now=now)
    session.flush()
    return journey


def pause(session: Session, journey_id: uuid.UUID, *, now: datetime) -> Journey:
    journey = get(session, journey_id, lock=True)
    if journey.status != JourneyStatus.live:
        raise Conflict(f"only a live journey can pause (it is {journey.status})", field="journey_id")
    _move(session, journey, JourneyStatus.paused, now=now)
    session.flush()
    return journey


def archive(session: Session, journey_id: uuid.UUID, *, now: datetime) -> Journey:
    """Stop for good: users in flight leave, queued messages of its steps are cancelled."""
    journey = get(session, journey_id, lock=True)
    if journey.status == JourneyStatus.archived:
        raise Conflict("the journey is archived already", field="journey_id")
    _move(session, journey, JourneyStatus.archived, now=now)
    for campaign_id in sends.campaign_ids(session, journey.id):
        ledger.cancel_queued(session, journey.workspace_id, campaign_id)
    session.execute(
        update(JourneyState)
        .where(JourneyState.journey_id == journey.id, JourneyState.status == StateStatus.active)
        .values(status=StateStatus.exited, exit_reason="archived", exited_at=now, waiting_since=None)
    )
    session.flush()
    return journey


def enter_user(
    session: Session, journey_id: uuid.UUID, external_id: str, properties: dict[str, Any], *, now: datetime
) -> bool:
    """Enter one user through the API (any entry type; the re-entry rule still applies)."""
    journey = get(session, journey_id)
    if journey.status != JourneyStatus.live:
        raise Conflict(f"users enter a live journey only (it is {journey.status})", field="journey_id")
    user_id = session.scalars(select(User.id).where(User.external_id == external_id)).first()
    if user_id is None:
        raise Invalid("no such user", field="user_id")
    event = {"name": "api", "properties": properties}
    return entry.enter(session, journey, definition(session, journey), [(user_id, event)], now=now) == 1
