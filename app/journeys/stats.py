"""Per-step counts for a journey: how many took each step, are waiting at it, left at it,
and took each of its branches (from the step journal and the states, grouped in SQL), and
for send steps their messages per stage from the ledger rows of the hidden campaigns."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.journeys import sends
from app.journeys.schemas import Definition, JourneyStats, SendStep, StepCounts, edges
from app.models import Campaign
from app.models.journey import Journey
from app.models.journey_state import JourneyState, StateStatus
from app.models.journey_step import JourneyStep
from app.reports import conversions
from app.reports.campaign import MESSAGE_STAGES, message_counts


def stats(session: Session, journey: Journey, definition: Definition, version: int | None) -> JourneyStats:
    """Counts for one version (``version``) or all of them (None; steps are matched by id)."""
    S, J = JourneyState, JourneyStep
    state_filter = [S.journey_id == journey.id] + ([S.version == version] if version else [])
    step_filter = [J.journey_id == journey.id] + ([J.version == version] if version else [])
    taken: dict[str, int] = {}
    branches: dict[str, dict[str, int]] = {}
    for step, outcome, count in session.execute(
        select(J.step, J.outcome, func.count()).where(*step_filter).group_by(J.step, J.outcome)
    ):
        taken[step] = taken.get(step, 0) + count
        if outcome is not None:
            branches.setdefault(step, {})[outcome] = count
    where: dict[tuple[str, str], int] = {}
    reasons: dict[str, int] = {}
    for step, status, reason, count in session.execute(
        select(S.step, S.status, S.exit_reason, func.count())
        .where(*state_filter)
        .group_by(S.step, S.status, S.exit_reason)
    ):
        where[(step, status)] = where.get((step, status), 0) + count
        if status == StateStatus.exited:
            reasons[reason or "exit"] = reasons.get(reason or "exit", 0) + count
    step_of = sends.step_campaigns(session, journey.id, version)
    messages = _messages(session, journey, step_of)
    steps = []
    for step in definition.steps:
        outs = branches.get(step.id, {})
        steps.append(
            StepCounts(
                step=step.id,
                type=step.type,
                entered=taken.get(step.id, 0),
                waiting=where.get((step.id, StateStatus.active), 0),
                exited=where.get((step.id, StateStatus.exited), 0),
                branches={outcome: outs.get(outcome, 0) for outcome, _ in edges(step)}
                if len(edges(step)) > 1
                else {},
                messages=messages.get(step.id, dict.fromkeys(MESSAGE_STAGES, 0))
                if isinstance(step, SendStep)
                else None,
                campaign_ids=sorted(c for c, s in step_of.items() if s == step.id)
                if isinstance(step, SendStep)
                else None,
            )
        )
    active = sum(count for (_, status), count in where.items() if status == StateStatus.active)
    return JourneyStats(
        version=version,
        entered=sum(where.values()),
        active=active,
        exited=reasons,
        steps=steps,
    )


def _messages(session: Session, journey: Journey, step_of: dict[uuid.UUID, str]) -> dict[str, dict[str, int]]:
    """Per send step id, its campaigns' messages (summed over versions), with the goal events
    received since each campaign's mark attributed first, as a campaign report does."""
    if not step_of:
        return {}
    for campaign in session.scalars(select(Campaign).where(Campaign.id.in_(list(step_of)))):
        conversions.attribute_campaign(session, campaign)
    found: dict[str, dict[str, int]] = {}
    for campaign_id, counts in message_counts(session, journey.workspace_id, list(step_of)).items():
        total = found.setdefault(step_of[campaign_id], dict.fromkeys(MESSAGE_STAGES, 0))
        for name, count in counts.items():
            total[name] += count
    return found
