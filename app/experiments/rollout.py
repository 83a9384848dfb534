"""Winner roll-out: a campaign sends to a test share of its audience first; ``wait_hours``
after each zone's test wave a second send (occurrence ``rollout``, planned by the ordinary
planner) gives the rest of the audience the winning variant.

The test share is ``share_unit(campaign, user) < test_percent / 100`` (app.delivery.rules),
evaluated inside each snapshot statement: the test send takes the users below, the roll-out
the users at or above, so nobody gets both. The roll-out reads the audience again when it is
planned; its control-group users stay held out (same stable assignment as in the test).

The winner is chosen once, when the roll-out's first zone is planned, from the test so far,
and stored on the roll-out send with why. Variants are compared with each other (the control
group is not a candidate): the best one wins when it beats every other significantly
(Bonferroni-corrected one-sided z-tests at ``alpha``). Otherwise the fallback: the configured
``fallback_variant``, or the variant with the best observed rate (the first in campaign order
on a tie), and the decision says it was not significant.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Uuid, func, literal, select
from sqlalchemy.orm import Session

from app.campaigns.occurrences import Occurrence, parse_schedule
from app.campaigns.schemas import AtInstant, Immediate, LocalTime, Rollout
from app.delivery.rules import CONTROL
from app.experiments.statistics import compare
from app.kit.errors import Invalid
from app.models import Campaign, Send, User
from app.reports import conversions
from app.reports.campaign import variant_arms

ROLLOUT = "rollout"  # the roll-out send's occurrence key; the test send keeps the usual one


def settings_of(campaign: Campaign) -> Rollout | None:
    return Rollout.model_validate(campaign.rollout) if campaign.rollout else None


def check(campaign: Campaign) -> None:
    """What the roll-out settings need from the rest of the campaign (422 naming the field)."""
    rollout = settings_of(campaign)
    if rollout is None:
        return
    if len(campaign.variants) < 2:
        raise Invalid("a roll-out needs at least two variants to choose from", field="rollout")
    if not isinstance(parse_schedule(campaign.schedule), Immediate | AtInstant | LocalTime):
        raise Invalid(
            "a roll-out needs a one-off schedule: immediate, at an instant or at a local time",
            field="rollout",
        )
    if rollout.metric == "converted" and campaign.goal is None:
        raise Invalid("the conversion metric needs the campaign's goal", field="rollout.metric")
    keys = [v["key"] for v in campaign.variants]
    if rollout.fallback_variant is not None and rollout.fallback_variant not in keys:
        raise Invalid(f"no variant {rollout.fallback_variant!r}", field="rollout.fallback_variant")


def occurrence(campaign: Campaign, test: Occurrence) -> Occurrence:
    """The roll-out send: the test send's timing, every zone ``wait_hours`` later."""
    rollout = settings_of(campaign)
    assert rollout is not None
    return Occurrence(ROLLOUT, dataclasses.replace(test.timing, offset=timedelta(hours=rollout.wait_hours)))


def share_condition(campaign: Campaign, send: Send) -> ColumnElement[bool] | None:
    """The users of ``send`` within the campaign's audience: the test share or the rest."""
    rollout = settings_of(campaign)
    if rollout is None:
        return None
    unit = func.nudge_share_unit(literal(campaign.id, Uuid()), User.id)
    edge = rollout.test_percent / 100
    return unit >= edge if send.occurrence == ROLLOUT else unit < edge


def decide(session: Session, campaign: Campaign, *, now: datetime) -> dict[str, Any]:
    """The winning variant of the test, and why."""
    rollout = settings_of(campaign)
    assert rollout is not None
    if rollout.metric == "converted":
        conversions.attribute_campaign(session, campaign)
    order = [str(v["key"]) for v in campaign.variants]
    arms = [
        a
        for a in variant_arms(session, campaign.workspace_id, campaign.id, metric=rollout.metric)
        if a.name != CONTROL and a.name in order
    ]
    arms.sort(key=lambda a: order.index(a.name))
    decision: dict[str, Any] = {
        "metric": rollout.metric,
        "alpha": rollout.alpha,
        "decided_at": now.isoformat(),
        "arms": [
            {"name": a.name, "users": a.exposures, "successes": a.conversions, "rate": a.rate} for a in arms
        ],
    }
    winner = None
    if len(arms) >= 2:
        result = compare(arms, alpha=rollout.alpha)
        winner = result.winner
        p_values = {r.name: r.p_value for r in result.arms}
        for arm in decision["arms"]:
            arm["p_value"] = p_values[arm["name"]]
        decision["corrected_alpha"] = result.corrected_alpha
    if winner is not None:
        return {**decision, "winner": winner, "significant": True, "reason": "significant"}
    if rollout.fallback_variant is not None:
        return {
            **decision,
            "winner": rollout.fallback_variant,
            "significant": False,
            "reason": "fallback_variant",
        }
    if arms:
        best = max(arms, key=lambda a: a.rate)  # max keeps the first of equals: campaign order
        return {**decision, "winner": best.name, "significant": False, "reason": "best_rate"}
    return {**decision, "winner": order[0], "significant": False, "reason": "no_data"}


def summary(session: Session, campaign: Campaign) -> dict[str, Any] | None:
    """The roll-out for the campaign report: its settings, when it is due and, once made, the
    decision (flat facts plus the arms, so it exports to CSV too)."""
    rollout = settings_of(campaign)
    if rollout is None:
        return None
    send = session.scalars(
        select(Send).where(Send.campaign_id == campaign.id, Send.occurrence == ROLLOUT)
    ).first()
    decision = dict(send.decision) if send is not None and send.decision else {}
    return {
        **rollout.model_dump(mode="json"),
        "status": send.status if send is not None else "not_launched",
        "next_wave_at": send.next_plan_at.isoformat() if send is not None and send.next_plan_at else None,
        "users": send.planned_count if send is not None else 0,
        "winner": decision.pop("winner", None),
        "significant": decision.pop("significant", None),
        "reason": decision.pop("reason", None),
        "decided_at": decision.pop("decided_at", None),
        "corrected_alpha": decision.pop("corrected_alpha", None),
        "arms": decision.pop("arms", []),
    }
