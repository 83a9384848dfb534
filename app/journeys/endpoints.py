from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from app.auth.dependencies import SecretKey
from app.idempotency.dependencies import Idempotent
from app.journeys import service
from app.journeys.runner import advance_job
from app.journeys.schemas import (
    Definition,
    EnterBody,
    Entered,
    JourneyCreate,
    JourneyOut,
    JourneyPage,
    JourneyStats,
    JourneyUpdate,
)
from app.journeys.stats import stats
from app.kit.db import current_workspace
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.models.base import utcnow
from app.models.journey import Journey

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])


def _out(session: Session, journey: Journey) -> JourneyOut:
    return JourneyOut(
        id=journey.id,
        name=journey.name,
        status=journey.status,
        version=journey.version,
        definition=service.version(session, journey).definition,
        launched_at=journey.launched_at,
        created_at=journey.created_at,
        updated_at=journey.updated_at,
    )


@router.post(
    "", response_model=JourneyOut, status_code=201, dependencies=[Idempotent], summary="Create a draft"
)
def create_journey(body: JourneyCreate, session: DbSession, _auth: SecretKey) -> JourneyOut:
    return _out(session, service.create(session, body, now=utcnow()))


@router.get("", response_model=JourneyPage, summary="List journeys")
def list_journeys(
    session: DbSession,
    _auth: SecretKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> JourneyPage:
    rows, next_cursor = service.list_journeys(session, limit=limit, cursor=cursor)
    return JourneyPage(data=[_out(session, j) for j in rows], next_cursor=next_cursor)


@router.get("/{journey_id}", response_model=JourneyOut, summary="One journey with its current graph")
def get_journey(journey_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> JourneyOut:
    return _out(session, service.get(session, journey_id))


@router.patch(
    "/{journey_id}",
    response_model=JourneyOut,
    summary="Rename or change the graph (a launched journey gets a new version)",
)
def update_journey(
    journey_id: uuid.UUID, body: JourneyUpdate, session: DbSession, _auth: SecretKey
) -> JourneyOut:
    return _out(session, service.update_journey(session, journey_id, body, now=utcnow()))


@router.post(
    "/{journey_id}/launch",
    response_model=JourneyOut,
    dependencies=[Idempotent],
    summary="Launch a draft, or resume a paused journey",
)
def launch(journey_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> JourneyOut:
    return _out(session, service.launch(session, journey_id, now=utcnow()))


@router.post(
    "/{journey_id}/pause",
    response_model=JourneyOut,
    dependencies=[Idempotent],
    summary="Pause: nobody enters or moves on until it is launched again",
)
def pause(journey_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> JourneyOut:
    return _out(session, service.pause(session, journey_id, now=utcnow()))


@router.post(
    "/{journey_id}/archive",
    response_model=JourneyOut,
    dependencies=[Idempotent],
    summary="Stop for good: users in flight leave, queued step messages are cancelled",
)
def archive(journey_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> JourneyOut:
    return _out(session, service.archive(session, journey_id, now=utcnow()))


@router.post(
    "/{journey_id}/entries",
    response_model=Entered,
    dependencies=[Idempotent],
    summary="Enter one user now (the re-entry rule applies)",
)
def enter(
    journey_id: uuid.UUID, body: EnterBody, request: Request, session: DbSession, _auth: SecretKey
) -> Entered:
    entered = service.enter_user(session, journey_id, body.user_id, body.properties, now=utcnow())
    if entered:  # advanced after the commit, not at the next tick
        unit_of_work(request).jobs.append(advance_job(current_workspace(session)))
    return Entered(entered=entered)


@router.get("/{journey_id}/stats", response_model=JourneyStats, summary="Per-step counts")
def journey_stats(
    journey_id: uuid.UUID,
    session: DbSession,
    _auth: SecretKey,
    version: Annotated[int | None, Query(ge=1, description="One version; all when omitted")] = None,
) -> JourneyStats:
    journey = service.get(session, journey_id)
    definition = Definition.model_validate(service.version(session, journey, version).definition)
    return stats(session, journey, definition, version)
