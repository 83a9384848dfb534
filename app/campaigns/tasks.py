"""Campaign tasks: the planner's tick, planning one send at once, cancelling, triggers."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from app.campaigns import planner, triggers
from app.delivery.lanes import start_lanes
from app.kit.jobs import Job
from app.models import Campaign, CampaignStatus, Send
from app.models.base import utcnow
from app.worker.registry import TaskContext, task


def _emitter(ctx: TaskContext) -> planner.Emit:
    def emit(jobs: list[Job]) -> None:
        for job in jobs:
            ctx.sink.send(job)

    return emit


@task("campaigns.tick", every_s=60)
def tick(ctx: TaskContext) -> dict[str, Any]:
    """Plan due sends, create recurring occurrences, reclaim leases, restart stalled lanes."""
    settings = ctx.database.settings
    return asdict(planner.tick(ctx.database, settings, _emitter(ctx), now=utcnow()))


@task("campaigns.plan_send")
def plan_send(ctx: TaskContext, *, workspace_id: str, send_id: str) -> int:
    """Plan a send at once (a launch that is due now) instead of waiting for the tick."""
    outcome = planner.plan_send(
        ctx.database, ctx.database.settings, uuid.UUID(workspace_id), uuid.UUID(send_id), now=utcnow()
    )
    if outcome is None:
        return 0
    _emitter(ctx)(outcome[1])
    return outcome[0]


@task("campaigns.cancel_queued")
def cancel_queued(ctx: TaskContext, *, workspace_id: str, campaign_id: str) -> int:
    return planner.cancel_queued(ctx.database, uuid.UUID(workspace_id), uuid.UUID(campaign_id))


@task("campaigns.handle_triggers")
def handle_triggers(ctx: TaskContext, *, workspace_id: str, event_ids: list[str]) -> int:
    now = utcnow()
    lanes = ctx.database.settings.dispatch_lanes
    with ctx.database.transaction(uuid.UUID(workspace_id)) as session:
        touched = triggers.handle(session, [uuid.UUID(i) for i in event_ids], now=now)
        running = set(
            session.scalars(
                select(Send.id)
                .join(
                    Campaign, (Campaign.workspace_id == Send.workspace_id) & (Campaign.id == Send.campaign_id)
                )
                .where(Send.id.in_(list(touched)), Campaign.status == CampaignStatus.running)
            )
        )
        jobs = [
            job
            for send_id, due in touched.items()
            if due and send_id in running
            for job in start_lanes(session, uuid.UUID(workspace_id), send_id, lanes=lanes, now=now)
        ]
    _emitter(ctx)(jobs)
    return len(touched)
