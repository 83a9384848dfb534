from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import SecretKey
from app.campaigns import preview, service
from app.campaigns.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
    DeliveryCounts,
    SchedulePreview,
)
from app.idempotency.dependencies import Idempotent
from app.kit.jobs import Job
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.models import CampaignStatus
from app.models.base import utcnow

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


def _enqueue(request: Request, jobs: list[Job]) -> None:
    """Hand jobs to the unit of work: sent after the commit, dropped on rollback."""
    unit_of_work(request).jobs.extend(jobs)


def _out(campaign: Any) -> CampaignOut:
    return CampaignOut.model_validate(campaign)


@router.post(
    "", response_model=CampaignOut, status_code=201, dependencies=[Idempotent], summary="Create a draft"
)
def create_campaign(body: CampaignCreate, session: DbSession, _auth: SecretKey) -> CampaignOut:
    return _out(service.create(session, body))


@router.get("", response_model=CampaignPage, summary="List campaigns")
def list_campaigns(
    session: DbSession,
    _auth: SecretKey,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    status: CampaignStatus | None = None,
) -> CampaignPage:
    rows, next_cursor = service.list_campaigns(session, limit=limit, cursor=cursor, status=status)
    return CampaignPage(data=[_out(c) for c in rows], next_cursor=next_cursor)


@router.get("/{campaign_id}", response_model=CampaignOut, summary="One campaign")
def get_campaign(campaign_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> CampaignOut:
    return _out(service.get(session, campaign_id))


@router.patch(
    "/{campaign_id}",
    response_model=CampaignOut,
    summary="Edit (content, audience and schedule only while a draft)",
)
def update_campaign(
    campaign_id: uuid.UUID, body: CampaignUpdate, session: DbSession, _auth: SecretKey
) -> CampaignOut:
    return _out(service.update_campaign(session, campaign_id, body))


@router.delete("/{campaign_id}", status_code=204, summary="Delete a draft")
def delete_campaign(campaign_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> Response:
    service.delete(session, campaign_id)
    return Response(status_code=204)


@router.post(
    "/{campaign_id}/launch",
    response_model=CampaignOut,
    dependencies=[Idempotent],
    summary="Launch: draft -> scheduled",
)
def launch(campaign_id: uuid.UUID, request: Request, session: DbSession, _auth: SecretKey) -> CampaignOut:
    campaign, jobs = service.launch(session, campaign_id, now=utcnow())
    _enqueue(request, jobs)
    return _out(campaign)


@router.post(
    "/{campaign_id}/pause",
    response_model=CampaignOut,
    dependencies=[Idempotent],
    summary="Pause: takes effect within one chunk",
)
def pause(campaign_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> CampaignOut:
    return _out(service.pause(session, campaign_id))


@router.post(
    "/{campaign_id}/resume",
    response_model=CampaignOut,
    dependencies=[Idempotent],
    summary="Resume where it stopped",
)
def resume(campaign_id: uuid.UUID, request: Request, session: DbSession, _auth: SecretKey) -> CampaignOut:
    campaign, jobs = service.resume(session, campaign_id, settings=request.app.state.settings, now=utcnow())
    _enqueue(request, jobs)
    return _out(campaign)


@router.post(
    "/{campaign_id}/cancel",
    response_model=CampaignOut,
    dependencies=[Idempotent],
    summary="Cancel: queued deliveries are cancelled",
)
def cancel(campaign_id: uuid.UUID, request: Request, session: DbSession, _auth: SecretKey) -> CampaignOut:
    campaign, jobs = service.cancel(session, campaign_id, now=utcnow())
    _enqueue(request, jobs)
    return _out(campaign)


@router.get(
    "/{campaign_id}/schedule-preview",
    response_model=SchedulePreview,
    summary="When each zone receives the (next) send, and how many users",
)
def schedule_preview(campaign_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> SchedulePreview:
    campaign = service.get(session, campaign_id)
    return SchedulePreview.model_validate(preview.preview(session, campaign, now=utcnow()))


@router.get(
    "/{campaign_id}/deliveries",
    response_model=DeliveryCounts,
    summary="Delivery counts by status and variant",
)
def delivery_counts(campaign_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> DeliveryCounts:
    return DeliveryCounts.model_validate(service.delivery_counts(session, campaign_id))
