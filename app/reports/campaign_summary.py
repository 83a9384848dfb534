"""A campaign's whole report: conversions attributed up to now, then the funnel, failures,
variants and channels, and a roll-out's decision. Its own module because the roll-out reads
the variant arms of ``app.reports.campaign``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.experiments import rollout
from app.models import Campaign
from app.reports import conversions
from app.reports.campaign import Metric, channels, failures, funnel, variants


def report(session: Session, campaign: Campaign, *, metric: Metric, alpha: float) -> dict[str, Any]:
    workspace_id, campaign_id = campaign.workspace_id, campaign.id
    conversions.attribute_campaign(session, campaign)
    out: dict[str, Any] = {
        "campaign_id": str(campaign_id),
        "goal": campaign.goal["event"] if campaign.goal else None,
        "funnel": funnel(session, workspace_id, campaign_id),
        "failures": failures(session, workspace_id, campaign_id),
        "variants": variants(session, workspace_id, campaign_id, metric=metric, alpha=alpha),
        "channels": channels(session, workspace_id, campaign_id),
    }
    summary = rollout.summary(session, campaign)
    if summary is not None:
        out["rollout"] = summary
    return out
