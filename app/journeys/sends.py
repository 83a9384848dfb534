"""Send steps go through the delivery ledger: each send step of a version is backed by a
hidden campaign (schedule type ``journey``), and each entry number by one of its sends, so a
queued Delivery per (step, user, entry) is dispatched by the existing machinery with its
frequency caps, quiet hours, channels, tracking and reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.journeys import bulk
from app.journeys.schemas import Definition, SendStep
from app.kit import sql
from app.kit.ids import uuid7
from app.models import Campaign, CampaignStatus, Send, SendStatus
from app.models.journey import Journey
from app.models.journey_state import JourneyState
from app.models.journey_version import JourneyVersion

SCHEDULE_TYPE = "journey"
OCCURRENCE_PREFIX = "journey:entry:"


def is_journey_campaign(campaign: Campaign) -> bool:
    return campaign.schedule.get("type") == SCHEDULE_TYPE


def create_campaigns(
    session: Session,
    journey: Journey,
    version: int,
    definition: Definition,
    *,
    status: str,
    launched_at: datetime | None,
) -> dict[str, str]:
    """One hidden campaign per send step of a version: ``{step id: campaign id}``. The
    journey's conversion is each one's goal, so conversions are attributed to step messages
    as to any campaign's (``launched_at`` lets the background pass pick them up)."""
    goal = definition.conversion.model_dump(mode="json") if definition.conversion else None
    made: dict[str, str] = {}
    for step in definition.steps:
        if not isinstance(step, SendStep):
            continue
        campaign = Campaign(
            workspace_id=journey.workspace_id,
            name=f"{journey.name} · v{version} · {step.id}"[:200],
            channel=step.channel,
            status=status,
            audience={"type": "all"},
            variants=[v.model_dump(mode="json") for v in step.variants],
            control_percent=0.0,
            goal=goal,
            launched_at=launched_at,
            schedule={
                "type": SCHEDULE_TYPE,
                "journey_id": str(journey.id),
                "version": version,
                "step": step.id,
            },
            limits={},
        )
        session.add(campaign)
        session.flush()
        made[step.id] = str(campaign.id)
    return made


def step_campaigns(
    session: Session, journey_id: uuid.UUID, version: int | None = None
) -> dict[uuid.UUID, str]:
    """The hidden campaigns of one version (or of all), each with its send step's id."""
    V = JourneyVersion
    versions = [V.version == version] if version else []
    docs = session.scalars(select(V.campaigns).where(V.journey_id == journey_id, *versions))
    return {uuid.UUID(c): step for doc in docs for step, c in doc.items()}


def campaign_ids(session: Session, journey_id: uuid.UUID) -> list[uuid.UUID]:
    return list(step_campaigns(session, journey_id))


def set_status(session: Session, journey_id: uuid.UUID, status: str, *, now: datetime) -> list[uuid.UUID]:
    """Move every hidden campaign of the journey (pause, resume, cancel with the journey)."""
    ids = campaign_ids(session, journey_id)
    if ids:
        values: dict[str, Any] = {"status": status}
        if status == CampaignStatus.running:
            values["launched_at"] = func.coalesce(Campaign.launched_at, now)
        if status == CampaignStatus.cancelled:
            values["finished_at"] = now
            session.execute(
                update(Send)
                .where(Send.campaign_id.in_(ids), Send.status == SendStatus.dispatching)
                .values(status=SendStatus.cancelled, finished_at=now)
            )
        session.execute(update(Campaign).where(Campaign.id.in_(ids)).values(values))
    return ids


def send_for(
    session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, entry: int, now: datetime
) -> uuid.UUID:
    """The send holding the step's deliveries for users on their ``entry``-th pass: the
    ledger's (send, user) key then means (step, user, entry)."""
    occurrence = f"{OCCURRENCE_PREFIX}{entry}"
    session.execute(
        sql.insert(session, Send)
        .values(
            workspace_id=workspace_id,
            id=uuid7(),
            campaign_id=campaign_id,
            occurrence=occurrence,
            status=SendStatus.dispatching,
            timing={"mode": "trigger"},
            starts_at=now,
            planned_zones=[],
            planned_count=0,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "campaign_id", "occurrence"])
    )
    return session.scalars(
        select(Send.id).where(Send.campaign_id == campaign_id, Send.occurrence == occurrence)
    ).one()


def queue_deliveries(
    session: Session,
    workspace_id: uuid.UUID,
    rows: Sequence[tuple[uuid.UUID, str, uuid.UUID, int]],
    *,
    now: datetime,
) -> set[uuid.UUID]:
    """Queue ``(campaign id, channel, user id, entry)`` deliveries due now; returns their sends."""
    sends: dict[tuple[uuid.UUID, int], uuid.UUID] = {}
    values: list[dict[str, Any]] = []
    for campaign_id, channel, user_id, entry in rows:
        key = (campaign_id, entry)
        if key not in sends:
            sends[key] = send_for(session, workspace_id, campaign_id, entry, now)
        values.append(
            {
                "id": uuid7(),
                "send_id": sends[key],
                "campaign_id": campaign_id,
                "user_id": user_id,
                "channel": channel,
            }
        )
    bulk.insert_deliveries(session, workspace_id, values, now)
    return set(sends.values())


def entry_events(
    session: Session, campaign: Campaign, send: Send, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """For a journey step's chunk: each user's entry event (``event`` in templates)."""
    if not is_journey_campaign(campaign) or not send.occurrence.startswith(OCCURRENCE_PREFIX) or not user_ids:
        return {}
    entry = int(send.occurrence.removeprefix(OCCURRENCE_PREFIX))
    rows = session.execute(
        select(JourneyState.user_id, JourneyState.event).where(
            JourneyState.journey_id == uuid.UUID(campaign.schedule["journey_id"]),
            JourneyState.entry == entry,
            JourneyState.user_id.in_(list(user_ids)),
        )
    )
    return {user_id: event for user_id, event in rows}
