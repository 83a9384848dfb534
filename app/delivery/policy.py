"""A workspace's delivery policy: quiet hours, frequency caps, rates (one row per workspace)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.delivery.schemas import DeliveryPolicyBody, FrequencyCap, QuietHours
from app.kit.db import current_workspace
from app.models import DeliveryPolicy


def get(session: Session) -> DeliveryPolicyBody:
    policy = session.get(DeliveryPolicy, (current_workspace(session), current_workspace(session)))
    if policy is None:
        return DeliveryPolicyBody()
    quiet = None
    if policy.quiet_hours_start is not None and policy.quiet_hours_end is not None:
        quiet = QuietHours(start=policy.quiet_hours_start, end=policy.quiet_hours_end)
    return DeliveryPolicyBody(
        quiet_hours=quiet,
        frequency_caps=[FrequencyCap.model_validate(c) for c in policy.frequency_caps],
        rate_per_second=policy.rate_per_second,
        channel_rates=policy.channel_rates,
    )


def put(session: Session, body: DeliveryPolicyBody) -> DeliveryPolicyBody:
    workspace_id = current_workspace(session)
    policy = session.get(DeliveryPolicy, (workspace_id, workspace_id))
    if policy is None:
        policy = DeliveryPolicy(workspace_id=workspace_id, id=workspace_id)
        session.add(policy)
    policy.quiet_hours_start = body.quiet_hours.start if body.quiet_hours else None
    policy.quiet_hours_end = body.quiet_hours.end if body.quiet_hours else None
    policy.frequency_caps = [c.model_dump(mode="json") for c in body.frequency_caps]
    policy.rate_per_second = body.rate_per_second
    policy.channel_rates = dict(body.channel_rates)
    session.flush()
    return body
