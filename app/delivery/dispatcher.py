"""Dispatch one chunk of a send.

Transaction 1 claims up to a chunk of due rows (``queued`` -> ``sending`` under a lease) and,
in the same transaction, settles every row that will not be sent now, in this order:
expired; unsubscribed (or no address); control group; frequency caps; quiet hours (deferred
to the window's end, or dropped); throttles (requeued for when tokens return). Then the rest
is rendered (one compiled template per variant) and handed to the channel as one batch, and
transaction 2 writes every result in one statement.

The only window for a repeat is a crash between the provider accepting the batch and
transaction 2: those rows stay ``sending`` until their lease expires, then the planner puts
them back to ``queued`` and they are sent again with the same delivery id (the provider's
idempotency id). So a crash repeats at most the one batch in flight, and skips nobody.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.campaigns.audience import effective_zone
from app.channels.base import OutboundMessage, Outcome, SendResult
from app.delivery import caps, channels, ledger, render
from app.delivery.lanes import lane_job, touch
from app.delivery.ledger import Claimed
from app.delivery.rules import CONTROL, QuietHours, assign_variant, unsubscribed
from app.delivery.throttle import Bucket, Buckets
from app.kit.db import Database
from app.kit.jobs import Job
from app.models import (
    Campaign,
    CampaignStatus,
    DeliveryPolicy,
    DeliveryStatus,
    Device,
    Send,
    SendStatus,
    Workspace,
)
from app.models.base import utcnow
from app.models.delivery import suppressed

RETRY_BACKOFF_S = 30.0
MAX_LANE_DELAY_S = 30.0


@dataclass
class ChunkReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    expired: int = 0
    requeued: int = 0
    lost: int = 0  # results not written: the lease had been reclaimed meanwhile
    stopped: str | None = None


@dataclass
class _Setup:
    send: Send
    campaign: Campaign
    policy: DeliveryPolicy | None
    workspace_zone: str


@dataclass
class _Pending:
    row: Claimed
    user: ledger.Recipient
    variant: str
    addresses: list[dict[str, Any]]


@dataclass
class _Decisions:
    outcomes: list[ledger.Outcome] = field(default_factory=list)
    sendable: list[_Pending] = field(default_factory=list)
    throttle_wait: float | None = None


def _load(session: Session, send_id: uuid.UUID) -> _Setup | None:
    """Everything a chunk needs to know, in one round trip (read fresh every chunk, so a pause
    or a policy change takes effect at the next chunk)."""
    row = session.execute(
        select(Send, Campaign, DeliveryPolicy, Workspace.timezone)
        .join(Campaign, and_(Campaign.workspace_id == Send.workspace_id, Campaign.id == Send.campaign_id))
        .join(Workspace, Workspace.id == Send.workspace_id)
        .outerjoin(DeliveryPolicy, DeliveryPolicy.workspace_id == Send.workspace_id)
        .where(Send.id == send_id)
    ).first()
    return None if row is None else _Setup(*row)


def _addresses(
    session: Session, channel: str, users: dict[uuid.UUID, ledger.Recipient]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    if channel == "email":
        return {uid: [{"email": u.email}] for uid, u in users.items() if u.email}
    if channel == "push":
        found: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        devices = session.scalars(
            select(Device).where(Device.user_id.in_(list(users)), Device.enabled.is_(True))
        )
        for d in devices:
            found[d.user_id].append(
                {
                    "platform": d.platform,
                    "token": d.token,
                    "device_id": str(d.id),
                    "apns_environment": d.apns_environment,
                }
            )
        return found
    return {uid: [{}] for uid in users}  # in_app and webhook need no address


def _buckets(setup: _Setup) -> list[Bucket]:
    """The rates this chunk must respect, per second: the campaign's N per minute, the
    workspace's rate, the channel's provider rate."""
    workspace = str(setup.send.workspace_id)
    rates: dict[str, float] = {}
    per_minute = setup.campaign.limits.get("per_minute")
    if per_minute:
        rates[f"{workspace}:campaign:{setup.campaign.id}"] = per_minute / 60.0
    if setup.policy is not None:
        if setup.policy.rate_per_second:
            rates[f"{workspace}:workspace"] = float(setup.policy.rate_per_second)
        channel_rate = (setup.policy.channel_rates or {}).get(setup.campaign.channel)
        if channel_rate:
            rates[f"{workspace}:channel:{setup.campaign.channel}"] = float(channel_rate)
    return [Bucket.per_second(key, rate) for key, rate in rates.items()]


Settle = Callable[[ledger.Outcome], None]


def _screen(
    setup: _Setup, claimed: list[Claimed], addresses: dict[uuid.UUID, Any], settle: Settle, now: datetime
) -> list[_Pending]:
    """Erased, expired, unsubscribed or unreachable users, and the control group."""
    campaign = setup.campaign
    pending: list[_Pending] = []
    for row in claimed:
        if row.user is None:
            settle(ledger.Outcome(row.id, suppressed("erased")))
        elif row.expires_at is not None and now > row.expires_at:
            settle(ledger.Outcome(row.id, DeliveryStatus.expired))
        elif unsubscribed(campaign.channel, row.user):
            settle(ledger.Outcome(row.id, suppressed("unsubscribed")))
        elif row.user_id not in addresses:
            settle(ledger.Outcome(row.id, suppressed("no_address")))
        else:
            variant = assign_variant(campaign.id, row.user_id, campaign.variants, campaign.control_percent)
            if variant == CONTROL:
                settle(ledger.Outcome(row.id, suppressed("control"), variant=CONTROL))
            else:
                pending.append(_Pending(row, row.user, variant, addresses[row.user_id]))
    return pending


def _over_cap(setup: _Setup, book: caps.CapBook, pending: list[_Pending], settle: Settle) -> list[_Pending]:
    if setup.campaign.limits.get("frequency_cap_exempt"):
        return pending
    allowed = []
    for p in pending:
        if book.allows(p.row.user_id, setup.campaign.channel, p.row.id):
            allowed.append(p)
        else:
            settle(ledger.Outcome(p.row.id, suppressed("frequency_cap"), variant=p.variant))
    return allowed


def _quiet(setup: _Setup, pending: list[_Pending], settle: Settle, now: datetime) -> list[_Pending]:
    """Users inside quiet hours: deferred to the window's end (expired if that is too late), or
    dropped, as the campaign chooses."""
    policy, rule = setup.policy, setup.campaign.limits.get("quiet_hours", "defer")
    if (
        policy is None
        or policy.quiet_hours_start is None
        or policy.quiet_hours_end is None
        or rule == "ignore"
    ):
        return pending
    quiet = QuietHours(policy.quiet_hours_start, policy.quiet_hours_end)
    awake = []
    for p in pending:
        ends = quiet.window_end(now, effective_zone(p.user.timezone, setup.workspace_zone))
        if ends is None:
            awake.append(p)
        elif rule == "drop":
            settle(ledger.Outcome(p.row.id, suppressed("quiet_hours"), variant=p.variant))
        elif p.row.expires_at is not None and ends > p.row.expires_at:
            settle(ledger.Outcome(p.row.id, DeliveryStatus.expired, variant=p.variant))
        else:
            settle(ledger.Outcome(p.row.id, DeliveryStatus.queued, due_at=ends, refund_attempt=True))
    return awake


def _throttle(
    setup: _Setup, buckets: Buckets, pending: list[_Pending], settle: Settle, now: datetime
) -> tuple[list[_Pending], float | None]:
    """Keep what the rates allow now; the rest goes back to the queue until tokens return."""
    limits = _buckets(setup)
    if not limits or not pending:
        return pending, None
    granted, wait = buckets.take(limits, len(pending), now.timestamp())
    later = now + timedelta(seconds=wait)
    for p in pending[granted:]:
        settle(ledger.Outcome(p.row.id, DeliveryStatus.queued, due_at=later, refund_attempt=True))
    return pending[:granted], wait if granted < len(pending) else None


def _decide(
    session: Session,
    setup: _Setup,
    claimed: list[Claimed],
    buckets: Buckets,
    *,
    now: datetime,
) -> _Decisions:
    """Apply the rules in order; caps are checked and recorded under the users' row locks."""
    workspace_id, channel = setup.send.workspace_id, setup.campaign.channel
    result = _Decisions()
    settle = result.outcomes.append
    addresses = _addresses(session, channel, {c.user_id: c.user for c in claimed if c.user})
    pending = _screen(setup, claimed, addresses, settle, now)
    cap_rules = [caps.Cap.parse(c) for c in (setup.policy.frequency_caps if setup.policy else [])]
    book = None
    if cap_rules:
        book = caps.open_book(session, workspace_id, [p.row.user_id for p in pending], cap_rules, now)
        pending = _over_cap(setup, book, pending, settle)
    pending = _quiet(setup, pending, settle, now)
    pending, result.throttle_wait = _throttle(setup, buckets, pending, settle, now)
    if book is not None:  # exempt campaigns still count
        for p in pending:
            book.record(p.row.user_id, channel, p.row.id)
        caps.save(session, workspace_id, book)
    result.sendable = pending
    return result


def _user_context(user: ledger.Recipient) -> dict[str, Any]:
    fields = {name: getattr(user, name) for name in ledger.USER_FIELDS if not name.endswith("_status")}
    return {**fields, "attributes": user.attributes}


def _messages(setup: _Setup, pending: list[_Pending]) -> tuple[list[OutboundMessage], list[ledger.Outcome]]:
    campaign = setup.campaign
    variants = {v["key"]: v for v in campaign.variants}
    messages: list[OutboundMessage] = []
    failures: list[ledger.Outcome] = []
    for p in pending:
        compiled = render.compiled_variant(str(campaign.id), campaign.revision, variants[p.variant])
        try:
            content = render.render(
                compiled, {"user": _user_context(p.user), "campaign": {"name": campaign.name}}
            )
        except Exception as exc:  # a template can fail for one user's data; never for the chunk
            failures.append(
                ledger.Outcome(p.row.id, DeliveryStatus.failed, variant=p.variant, error=f"render: {exc}")
            )
            continue
        for address in p.addresses:
            messages.append(
                OutboundMessage(
                    delivery_id=p.row.id,
                    workspace_id=setup.send.workspace_id,
                    user_id=p.row.user_id,
                    channel=campaign.channel,
                    address=address,
                    content=content,
                )
            )
    return messages, failures


def _settle(
    pending: list[_Pending], results: list[SendResult], *, now: datetime, max_attempts: int
) -> list[ledger.Outcome]:
    """One outcome per delivery from its messages' results (several devices: any accepted wins)."""
    by_delivery: dict[uuid.UUID, list[SendResult]] = defaultdict(list)
    for result in results:
        by_delivery[result.delivery_id].append(result)
    outcomes = []
    for p in pending:
        mine = by_delivery.get(p.row.id)
        if mine is None:
            continue  # failed to render: already settled
        accepted = [r for r in mine if r.outcome == Outcome.sent]
        retry = [r for r in mine if r.outcome == Outcome.retry]
        if accepted:
            outcomes.append(
                ledger.Outcome(
                    p.row.id,
                    DeliveryStatus.sent,
                    variant=p.variant,
                    provider_id=accepted[0].provider_id,
                    sent_at=now,
                )
            )
        elif retry and p.row.attempts < max_attempts:
            wait = max([RETRY_BACKOFF_S * p.row.attempts, *(r.retry_after_s or 0 for r in retry)])
            outcomes.append(
                ledger.Outcome(
                    p.row.id,
                    DeliveryStatus.queued,
                    variant=p.variant,
                    error=retry[0].error,
                    due_at=now + timedelta(seconds=wait),
                )
            )
        else:
            error = "; ".join(r.error or r.outcome for r in mine)[:1000]
            outcomes.append(ledger.Outcome(p.row.id, DeliveryStatus.failed, variant=p.variant, error=error))
    return outcomes


def _count(report: ChunkReport, outcomes: list[ledger.Outcome]) -> None:
    for o in outcomes:
        if o.status == DeliveryStatus.sent:
            report.sent += 1
        elif o.status == DeliveryStatus.failed:
            report.failed += 1
        elif o.status == DeliveryStatus.expired:
            report.expired += 1
        elif o.status == DeliveryStatus.queued:
            report.requeued += 1
        else:
            report.suppressed += 1


def dispatch_chunk(
    database: Database,
    buckets: Buckets,
    *,
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    after: ledger.Position | None = None,
    now: datetime | None = None,
) -> tuple[ChunkReport, list[Job]]:
    """Dispatch one chunk; returns what happened and the job continuing the lane, if any."""
    settings = database.settings
    now = now or utcnow()
    # A lease is also the claim's token; jitter keeps two claims at one instant distinct.
    lease_until = now + timedelta(seconds=settings.dispatch_lease_s, microseconds=random.randrange(1_000_000))
    report = ChunkReport()
    with database.transaction(workspace_id) as session:
        setup = _load(session, send_id)
        if setup is None or setup.send.status not in (SendStatus.planning, SendStatus.dispatching):
            report.stopped = "send finished"
            return report, []
        if setup.campaign.status != CampaignStatus.running:
            report.stopped = f"campaign {setup.campaign.status}"
            return report, []
        claimed = ledger.claim(
            session,
            workspace_id,
            send_id,
            now=now,
            lease_until=lease_until,
            limit=settings.dispatch_chunk_size,
            after=after or ledger.START,
        )
        report.claimed = len(claimed)
        if not claimed:
            return report, []
        decided = _decide(session, setup, claimed, buckets, now=now)
        ledger.write(session, workspace_id, lease_until, decided.outcomes)
        _count(report, decided.outcomes)

    messages, render_failures = _messages(setup, decided.sendable)
    results: list[SendResult] = []
    if messages:
        channel = channels.channel_for(setup.campaign.channel, settings)
        try:
            results = channels.run(channel.send(messages))
        except Exception as exc:  # the whole batch failed in transit: retry it later
            results = [SendResult(m.delivery_id, Outcome.retry, error=f"channel: {exc}") for m in messages]
    outcomes = render_failures + _settle(
        decided.sendable, results, now=now, max_attempts=settings.dispatch_max_attempts
    )
    _count(report, outcomes)

    full = len(claimed) >= settings.dispatch_chunk_size
    throttled = decided.throttle_wait is not None
    with database.transaction(workspace_id) as session:
        report.lost = len(outcomes) - ledger.write(session, workspace_id, lease_until, outcomes)
        if not (full or throttled):
            return report, []  # nothing due is left; the planner starts lanes when more is
        touch(session, send_id, now)
    # Rows requeued by a throttle are due later, so they too lie past this chunk's position.
    delay = 0.0 if full else min(MAX_LANE_DELAY_S, max(0.05, decided.throttle_wait or 0.0))
    return report, [lane_job(workspace_id, send_id, after=ledger.last_position(claimed), delay_s=delay)]
