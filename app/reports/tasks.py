"""Conversion attribution in the background: every minute, for each campaign with a goal whose
windows may still be open, the goal events received since its mark, then the mark moves on.
Reports also attribute the events after the mark before they count. And the weekly activity
rollup of workspaces whose zone changed is rebuilt."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import or_, select

from app.kit.db import scope_to_system
from app.models import Campaign, CampaignStatus, Workspace
from app.models.base import utcnow
from app.reports import activity_weeks, conversions
from app.worker.registry import TaskContext, task

# The longest goal window (90 days) after a campaign finished, nothing more can convert.
_LONGEST_WINDOW = timedelta(days=90)


@task("reports.attribute_conversions", every_s=60)
def attribute_all(ctx: TaskContext) -> int:
    with ctx.database.session() as session:
        scope_to_system(session)
        due = session.execute(
            select(Campaign.workspace_id, Campaign.id).where(
                Campaign.goal.is_not(None),
                Campaign.launched_at.is_not(None),
                or_(
                    Campaign.status.in_([CampaignStatus.running, CampaignStatus.paused]),
                    Campaign.finished_at > utcnow() - _LONGEST_WINDOW,
                ),
            )
        ).all()
    return sum(attribute_campaign(ctx, workspace_id=str(w), campaign_id=str(c)) for w, c in due)


@task("reports.attribute_campaign")
def attribute_campaign(ctx: TaskContext, *, workspace_id: str, campaign_id: str) -> int:
    workspace, campaign_key = uuid.UUID(workspace_id), uuid.UUID(campaign_id)
    with ctx.database.transaction(workspace) as session:
        campaign = session.get(Campaign, (workspace, campaign_key))
        return 0 if campaign is None else conversions.catch_up(session, campaign, now=utcnow())


@task("reports.rebuild_activity_weeks", every_s=60)
def rebuild_activity_weeks(ctx: TaskContext) -> int:
    """Rebuild the weekly activity rollup of each workspace whose zone changed (the retention
    report computes from the events meanwhile)."""
    with ctx.database.session() as session:
        scope_to_system(session)
        due = session.scalars(
            select(Workspace.id).where(Workspace.activity_weeks_zone != Workspace.timezone)
        ).all()
    rebuilt = 0
    for workspace_id in due:
        with ctx.database.transaction(workspace_id) as session:
            rebuilt += activity_weeks.rebuild(session, workspace_id)
    return rebuilt
