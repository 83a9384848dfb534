"""Campaigns: create, edit before launch, and the life cycle
draft -> scheduled -> running <-> paused -> completed / cancelled.

Life-cycle calls lock the campaign row, so a double-clicked "Launch" launches once and the
second click gets 409. Services return the jobs to enqueue; the caller sends them after commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.campaigns import audience as audiences
from app.campaigns import occurrences, triggers
from app.campaigns.occurrences import Occurrence
from app.campaigns.schemas import (
    DRAFT_ONLY_FIELDS,
    CampaignCreate,
    CampaignUpdate,
    Recurring,
    Triggered,
    Variant,
)
from app.campaigns.timing import earliest_moment, planning_horizon
from app.delivery.lanes import start_lanes
from app.experiments import rollout as rollouts
from app.journeys.sends import SCHEDULE_TYPE as JOURNEY_SCHEDULE
from app.journeys.sends import is_journey_campaign
from app.kit.db import current_workspace
from app.kit.errors import Conflict, Invalid, NotFound
from app.kit.jobs import Job
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.settings import Settings
from app.models import Campaign, CampaignStatus, Delivery, Send, SendStatus
from app.models.base import utcnow
from app.templating.content import check_channel_content

PLAN_TASK = "campaigns.plan_send"
CANCEL_TASK = "campaigns.cancel_queued"
LIVE = (CampaignStatus.scheduled, CampaignStatus.running, CampaignStatus.paused)
NULLABLE = frozenset({"goal", "rollout"})


def _check_variants(channel: str, variants: list[Variant]) -> None:
    for index, variant in enumerate(variants):
        check_channel_content(channel, variant.content, field=f"variants[{index}].content")


def create(session: Session, body: CampaignCreate) -> Campaign:
    _check_variants(body.channel, body.variants)
    audiences.segment_definition(session, body.audience)  # a saved segment must exist
    campaign = Campaign(
        workspace_id=current_workspace(session),
        name=body.name,
        channel=body.channel,
        status=CampaignStatus.draft,
        audience=body.audience.model_dump(mode="json"),
        variants=[v.model_dump(mode="json") for v in body.variants],
        control_percent=body.control_percent,
        schedule=body.schedule.model_dump(mode="json"),
        limits=body.limits.model_dump(mode="json"),
        goal=body.goal.model_dump(mode="json") if body.goal else None,
        rollout=body.rollout.model_dump(mode="json") if body.rollout else None,
    )
    rollouts.check(campaign)
    session.add(campaign)
    session.flush()
    return campaign


def get(session: Session, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    campaign = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if campaign is None:
        raise NotFound("no such campaign", field="campaign_id")
    if lock and is_journey_campaign(campaign):
        raise Conflict("this campaign sends a journey step: change its journey", field="campaign_id")
    return campaign


def list_campaigns(
    session: Session, *, limit: int, cursor: str | None, status: str | None
) -> tuple[list[Campaign], str | None]:
    # Journey steps' hidden campaigns are listed with their journey.
    stmt = (
        select(Campaign)
        .where(Campaign.schedule["type"].as_string() != JOURNEY_SCHEDULE)
        .order_by(Campaign.id)
        .limit(limit + 1)
    )
    if cursor:
        stmt = stmt.where(Campaign.id > decode_cursor(cursor))
    if status:
        stmt = stmt.where(Campaign.status == status)
    rows = list(session.scalars(stmt))
    return rows[:limit], encode_cursor(rows[limit - 1].id) if len(rows) > limit else None


def update_campaign(session: Session, campaign_id: uuid.UUID, body: CampaignUpdate) -> Campaign:
    campaign = get(session, campaign_id, lock=True)
    changes = body.model_dump(exclude_unset=True, mode="json")
    frozen = sorted(DRAFT_ONLY_FIELDS & changes.keys())
    if frozen and campaign.status != CampaignStatus.draft:
        raise Conflict(f"{frozen[0]} can change only before launch", field=frozen[0])
    nulls = sorted(name for name, value in changes.items() if value is None and name not in NULLABLE)
    if nulls:
        raise Invalid(f"{nulls[0]} cannot be null", field=nulls[0])
    channel = body.channel or campaign.channel
    if body.variants is not None or body.channel is not None:
        variants = body.variants or [Variant.model_validate(v) for v in campaign.variants]
        _check_variants(channel, variants)
        campaign.revision += 1
    if body.audience is not None:
        audiences.segment_definition(session, body.audience)
    for name, value in changes.items():
        setattr(campaign, name, value)
    rollouts.check(campaign)
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def delete(session: Session, campaign_id: uuid.UUID) -> None:
    campaign = get(session, campaign_id, lock=True)
    if campaign.status != CampaignStatus.draft:
        raise Conflict("only drafts can be deleted; cancel a launched campaign", field="status")
    session.delete(campaign)
    session.flush()


def _transition(campaign: Campaign, action: str, allowed: tuple[str, ...]) -> None:
    if campaign.status not in allowed:
        raise Conflict(f"cannot {action} a {campaign.status} campaign", field="status")


def new_send(session: Session, campaign: Campaign, occurrence: Occurrence, *, now: datetime) -> Send | None:
    """The occurrence's send, created once (the unique key makes a second attempt a no-op)."""
    exists = session.scalars(
        select(Send.id).where(Send.campaign_id == campaign.id, Send.occurrence == occurrence.key)
    ).first()
    if exists is not None:
        return None
    send = Send(
        workspace_id=campaign.workspace_id,
        campaign_id=campaign.id,
        occurrence=occurrence.key,
        status=SendStatus.planning,
        timing=occurrence.timing.to_json(),
        starts_at=now,
        next_plan_at=max(earliest_moment(occurrence.timing), now),
        created_at=now,
    )
    session.add(send)
    session.flush()
    return send


def launch(session: Session, campaign_id: uuid.UUID, *, now: datetime) -> tuple[Campaign, list[Job]]:
    campaign = get(session, campaign_id, lock=True)
    _transition(campaign, "launch", (CampaignStatus.draft,))
    schedule = occurrences.parse_schedule(campaign.schedule)
    audiences.segment_definition(session, audiences.parse(campaign.audience))
    jobs: list[Job] = []
    campaign.launched_at = now
    campaign.status = CampaignStatus.scheduled
    if isinstance(schedule, Triggered):
        campaign.status = CampaignStatus.running
        triggers.forget_cache(campaign.workspace_id)
    elif isinstance(schedule, Recurring):
        first = occurrences.next_recurring(schedule, after=None, launched_at=now)
        if first is None:
            raise Invalid("the recurring schedule has no occurrence after now", field="schedule.end_date")
        campaign.next_run_at = max(occurrences.creation_time(first), now)
    else:
        occurrence = occurrences.one_off(schedule, now)
        assert occurrence is not None
        if planning_horizon(occurrence.timing) < now and occurrence.timing.mode != "utc":
            raise Invalid("every zone's moment for this schedule has passed", field="schedule.date")
        send = new_send(session, campaign, occurrence, now=now)
        if send is not None and send.next_plan_at is not None and send.next_plan_at <= now:
            jobs.append(plan_job(campaign.workspace_id, send.id))
        if campaign.rollout is not None:
            new_send(session, campaign, rollouts.occurrence(campaign, occurrence), now=now)
    campaign.updated_at = now
    session.flush()
    return campaign, jobs


def plan_job(workspace_id: uuid.UUID, send_id: uuid.UUID) -> Job:
    return Job(PLAN_TASK, {"workspace_id": str(workspace_id), "send_id": str(send_id)})


def pause(session: Session, campaign_id: uuid.UUID) -> Campaign:
    campaign = get(session, campaign_id, lock=True)
    _transition(campaign, "pause", (CampaignStatus.running,))
    campaign.status = CampaignStatus.paused
    campaign.updated_at = utcnow()
    triggers.forget_cache(campaign.workspace_id)
    session.flush()
    return campaign


def resume(
    session: Session, campaign_id: uuid.UUID, *, settings: Settings, now: datetime
) -> tuple[Campaign, list[Job]]:
    """Back to running; lanes restart for every unfinished send and continue where they stopped."""
    campaign = get(session, campaign_id, lock=True)
    _transition(campaign, "resume", (CampaignStatus.paused,))
    campaign.status = CampaignStatus.running
    campaign.updated_at = now
    triggers.forget_cache(campaign.workspace_id)
    jobs: list[Job] = []
    for send_id in session.scalars(
        select(Send.id).where(
            Send.campaign_id == campaign.id, Send.status.in_((SendStatus.planning, SendStatus.dispatching))
        )
    ):
        jobs += start_lanes(session, campaign.workspace_id, send_id, lanes=settings.dispatch_lanes, now=now)
    session.flush()
    return campaign, jobs


def cancel(session: Session, campaign_id: uuid.UUID, *, now: datetime) -> tuple[Campaign, list[Job]]:
    """Stop for good: unfinished sends are cancelled and a task marks their queued rows."""
    campaign = get(session, campaign_id, lock=True)
    _transition(campaign, "cancel", (CampaignStatus.draft, *LIVE))
    launched = campaign.status != CampaignStatus.draft
    campaign.status = CampaignStatus.cancelled
    campaign.finished_at = now
    campaign.next_run_at = None
    campaign.updated_at = now
    triggers.forget_cache(campaign.workspace_id)
    session.execute(
        update(Send)
        .where(
            Send.campaign_id == campaign.id, Send.status.in_((SendStatus.planning, SendStatus.dispatching))
        )
        .values(status=SendStatus.cancelled, finished_at=now, next_plan_at=None)
    )
    session.flush()
    job = Job(CANCEL_TASK, {"workspace_id": str(campaign.workspace_id), "campaign_id": str(campaign.id)})
    return campaign, [job] if launched else []


def delivery_counts(session: Session, campaign_id: uuid.UUID) -> dict[str, Any]:
    get(session, campaign_id)
    rows = session.execute(
        select(Delivery.status, Delivery.variant, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status, Delivery.variant)
    ).all()
    by_status: dict[str, int] = {}
    by_variant: dict[str, dict[str, int]] = {}
    for status, variant, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        per = by_variant.setdefault(variant or "unassigned", {})
        per[status] = per.get(status, 0) + count
    return {"total": sum(by_status.values()), "by_status": by_status, "by_variant": by_variant}
