"""Dispatch one chunk of a send.

The chunk's transaction claims up to a chunk of due ``queued`` rows and settles every row that
will not be sent now, in this order: expired; opted out of the channel or the content's
category; suppressed address; no usable address (no email, no enabled device); control group;
frequency caps; quiet hours (deferred to the window's end, or dropped); throttles (requeued for
when tokens return). A channel the workspace has not configured fails its rows. Then the rest
is rendered (each variant compiled once per chunk; a render failure fails only that delivery)
and handed to the channel as one batch, and every result is written in bulk together with what
the provider told us (dead tokens, bounces). Transient failures go back to ``queued`` with the
same delivery id, later (``retry_after``), until ``dispatch_max_attempts``.

On Postgres the claimed rows stay locked, and ``queued``, until that one transaction commits
every row's outcome: one write per row. The only window for a repeat is a crash between the
provider accepting the batch and the commit: the server rolls the transaction back, the rows
are ``queued`` again at once with the same delivery id (the provider's idempotency id) and the
lane's redelivered task, or a restarted lane, sends them again. So a crash repeats at most the
one batch in flight, and skips nobody. The price is a transaction (and its connection) open for
the provider's call, and a crash does not count as an attempt. An exception does (a bug, a
database error): a fresh transaction puts the chunk's rows back to ``queued`` a backoff later
with the attempt counted, so a poison row fails after ``dispatch_max_attempts`` instead of
stopping its lane at the same chunk for ever. A row whose send kills the process every time
is bounded outside the transaction (app.delivery.crashes, with Redis): the chunk marks itself
before it sends and clears the mark once committed; a chunk that died ``dispatch_max_crashes``
times is claimed in halves to isolate the row, which fails ("the worker died sending this
message N times") once it died that often alone. A single kill changes nothing, and a lost
Redis only restarts the count.

On SQLite (one writer at a time, no row locks) a first transaction moves the rows to
``sending`` under a lease and commits before the send, and a second writes the results; rows a
crash leaves in ``sending`` go back to ``queued`` when their lease expires (the planner's
``reclaim_leases``), and after ``dispatch_max_attempts`` such claims they fail.
"""

from __future__ import annotations

import logging
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.campaigns.audience import effective_zone
from app.channels.base import Channel, OutboundMessage, Outcome, SendResult
from app.channels.feedback import apply_feedback
from app.delivery import caps, channels, compose, crashes, ledger, recipients
from app.delivery import metrics as dispatch_metrics
from app.delivery.compose import Pending
from app.delivery.crashes import CrashMarks
from app.delivery.lanes import lane_job, touch
from app.delivery.ledger import Claimed
from app.delivery.rules import CONTROL, QuietHours, VariantPicker
from app.delivery.throttle import Bucket, Buckets
from app.kit.db import Database
from app.kit.jobs import Job
from app.models import (
    Campaign,
    CampaignStatus,
    DeliveryPolicy,
    DeliveryStatus,
    Send,
    SendStatus,
    Workspace,
)
from app.models.base import utcnow
from app.models.delivery import suppressed
from app.tracking.links import TrackingLinks

log = logging.getLogger(__name__)
RETRY_BACKOFF_S = 30.0
MAX_LANE_DELAY_S = 30.0
ERASED, UNSUBSCRIBED, IN_CONTROL = suppressed("erased"), suppressed("unsubscribed"), suppressed("control")
ADDRESS_SUPPRESSED, NO_ADDRESS = suppressed("address_suppressed"), suppressed("no_address")
OVER_CAP, QUIET = suppressed("frequency_cap"), suppressed("quiet_hours")


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

    @cached_property
    def limits(self) -> list[Bucket]:
        """The chunk's rates, for both the claim's size and the throttle."""
        return _buckets(self)


@dataclass
class _Decisions:
    outcomes: list[ledger.Outcome] = field(default_factory=list)
    sendable: list[Pending] = field(default_factory=list)
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


def _claim_limit(setup: _Setup, buckets: Buckets, chunk_size: int, now: datetime) -> tuple[int, float]:
    """How many rows a chunk claims, or how long its lane waits first: a whole chunk, or as many
    as its tightest rate's bucket can hold if fewer, once its rates hold that many tokens (read
    here, taken after the rules ran). Rows claimed past the tokens could only be written back
    to the queue, chunk after chunk, by every lane sharing the rates but one; claimed as tokens
    trickle in, chunks would be a few rows each."""
    if not setup.limits:
        return chunk_size, 0.0
    limit = min([chunk_size, *(math.floor(bucket.burst) for bucket in setup.limits)])
    wait = buckets.ready_in(setup.limits, limit, now.timestamp())
    return (0, wait) if wait > 0 else (limit, 0.0)


Settle = Callable[[ledger.Outcome], None]


def _screen(
    setup: _Setup, claimed: list[Claimed], reachable: recipients.Reachable, settle: Settle, now: datetime
) -> list[Pending]:
    """Erased, expired, opted-out, suppressed or unreachable users, and the control group."""
    campaign, addresses = setup.campaign, reachable.addresses
    allowed, blocked = reachable.allowed, reachable.blocked
    winner = setup.send.decision["winner"] if setup.send.decision else None
    variants = VariantPicker(campaign.variants, campaign.control_percent)
    campaign_id = campaign.id  # read once: an ORM attribute costs a descriptor call per row
    pending: list[Pending] = []
    for row in claimed:
        user_id = row.user_id
        if row.user is None:
            settle(ledger.Outcome(row.id, ERASED))
        elif row.expires_at is not None and now > row.expires_at:
            settle(ledger.Outcome(row.id, DeliveryStatus.expired))
        elif allowed is not None and user_id not in allowed:
            settle(ledger.Outcome(row.id, UNSUBSCRIBED))
        elif user_id in blocked:
            settle(ledger.Outcome(row.id, ADDRESS_SUPPRESSED))
        elif (to := addresses.get(user_id)) is None:
            settle(ledger.Outcome(row.id, NO_ADDRESS))
        else:
            variant = variants.pick(campaign_id, user_id)
            if variant != CONTROL and winner is not None:
                variant = winner  # a roll-out: everyone outside the control group gets the winner
            if variant == CONTROL:
                settle(ledger.Outcome(row.id, IN_CONTROL, variant=CONTROL))
            else:
                pending.append(Pending(row, row.user, variant, to))
    return pending


def _over_cap(setup: _Setup, book: caps.CapBook, pending: list[Pending], settle: Settle) -> list[Pending]:
    if setup.campaign.limits.get("frequency_cap_exempt"):
        return pending
    allowed, channel = [], setup.campaign.channel
    for p in pending:
        if book.allows(p.row.user_id, channel, p.row.id):
            allowed.append(p)
        else:
            settle(ledger.Outcome(p.row.id, OVER_CAP, variant=p.variant))
    return allowed


def _quiet(setup: _Setup, pending: list[Pending], settle: Settle, now: datetime) -> list[Pending]:
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
            settle(ledger.Outcome(p.row.id, QUIET, variant=p.variant))
        elif p.row.expires_at is not None and ends > p.row.expires_at:
            settle(ledger.Outcome(p.row.id, DeliveryStatus.expired, variant=p.variant))
        else:
            settle(ledger.Outcome(p.row.id, DeliveryStatus.queued, due_at=ends, refund_attempt=True))
    return awake


def _throttle(
    setup: _Setup, buckets: Buckets, pending: list[Pending], settle: Settle, now: datetime
) -> tuple[list[Pending], float | None]:
    """Keep what the rates allow now; the rest goes back to the queue until tokens return."""
    limits = setup.limits
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
    reachable = recipients.reachable(session, setup.campaign, {c.user_id: c.user for c in claimed if c.user})
    pending = _screen(setup, claimed, reachable, settle, now)
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


def _not_configured(claimed: list[Claimed], channel: str) -> list[ledger.Outcome]:
    error = f"the {channel} channel is not configured for this workspace (set its provider credentials)"
    return [ledger.Outcome(row.id, DeliveryStatus.failed, error=error) for row in claimed]


def _settle(
    pending: list[Pending], results: list[SendResult], *, now: datetime, max_attempts: int
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
        accepted = next((r for r in mine if r.outcome == Outcome.sent), None)
        if accepted is not None:
            outcomes.append(
                ledger.Outcome(
                    p.row.id,
                    DeliveryStatus.sent,
                    variant=p.variant,
                    provider_id=accepted.provider_id,
                    sent_at=now,
                )
            )
            continue
        retry = [r for r in mine if r.outcome == Outcome.retry]
        if retry and p.row.attempts < max_attempts:
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


def _send(channel: Channel, messages: list[OutboundMessage]) -> list[SendResult]:
    try:
        return channels.run(channel.send(messages))
    except Exception as exc:  # the whole batch failed in transit: retry it later
        return [SendResult(m.delivery_id, Outcome.retry, error=f"channel: {exc}") for m in messages]


@dataclass
class _Delivered:
    messages: list[OutboundMessage]
    results: list[SendResult]
    outcomes: list[ledger.Outcome]


def _deliver(
    setup: _Setup,
    workspace_id: uuid.UUID,
    channel: Channel | None,
    decided: _Decisions,
    content: compose.ChunkContent,
    *,
    database: Database,
    now: datetime,
) -> _Delivered:
    """Render the sendable rows, hand them to the channel as one batch, and settle each row."""
    settings = database.settings
    links = TrackingLinks(settings) if setup.campaign.channel == "email" else None
    messages, timed_out, render_failures = compose.messages(
        setup.campaign, workspace_id, setup.workspace_zone, decided.sendable, content, links
    )
    results = _send(channel, messages) if channel is not None and messages else []
    outcomes = render_failures + _settle(
        decided.sendable, results + timed_out, now=now, max_attempts=settings.dispatch_max_attempts
    )
    return _Delivered(messages, results, outcomes)


def dispatch_chunk(
    database: Database,
    buckets: Buckets,
    *,
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    after: ledger.Position | None = None,
    now: datetime | None = None,
    crash_marks: CrashMarks | None = None,
) -> tuple[ChunkReport, list[Job]]:
    """Dispatch one chunk; returns what happened and the job continuing the lane, if any."""
    settings = database.settings
    now = now or utcnow()
    # On SQLite a lease is also the claim's token; jitter keeps two claims at one instant distinct.
    lease_until = now + timedelta(seconds=settings.dispatch_lease_s, microseconds=random.randrange(1_000_000))
    report = ChunkReport()
    claimed: list[Claimed] = []
    marked = crashes.Marked()  # its mark is cleared once the transaction inside has committed
    try:
        with marked, database.transaction(workspace_id) as session:
            setup = _load(session, send_id)
            if setup is None or setup.send.status not in (SendStatus.planning, SendStatus.dispatching):
                report.stopped = "send finished"
                return report, []
            if setup.campaign.status != CampaignStatus.running:
                report.stopped = f"campaign {setup.campaign.status}"
                return report, []
            limit, wait = _claim_limit(setup, buckets, settings.dispatch_chunk_size, now)
            if limit < 1:  # a lane waiting for tokens is alive: the planner leaves it be
                if _quiet_since(setup.send, now - timedelta(seconds=settings.dispatch_stall_s / 4)):
                    touch(session, workspace_id, send_id, now)
                delay = min(MAX_LANE_DELAY_S, max(0.05, wait))
                return report, [lane_job(workspace_id, send_id, after=after, delay_s=delay)]
            claimed = ledger.claim(
                session,
                workspace_id,
                send_id,
                now=now,
                lease_until=lease_until,
                limit=limit,
                after=after or ledger.START,
            )
            if not claimed:
                return report, []
            full = len(claimed) >= limit
            if crash_marks is not None and ledger.holds_claims(session):
                marked.mark = mark = crash_marks.enter(send_id, [c.id for c in claimed])
                if mark is not None and mark.verdict.keep < len(claimed):
                    claimed, full = claimed[: mark.verdict.keep], True  # the rest stay queued, next
            report.claimed = len(claimed)
            channel = channels.channel_for(session, workspace_id, setup.campaign.channel, database)
            if marked.mark is not None and marked.mark.verdict.fail:
                decided = _Decisions(outcomes=[crashes.failed(claimed[0].id, marked.mark.verdict)])
            elif channel is None:
                decided = _Decisions(outcomes=_not_configured(claimed, setup.campaign.channel))
                dispatch_metrics.record_not_configured(setup.campaign.channel, len(claimed))
            else:
                decided = _decide(session, setup, claimed, buckets, now=now)
            _count(report, decided.outcomes)
            dispatch_metrics.record_outcomes(setup.campaign.channel, decided.outcomes)
            content = compose.compile_chunk(session, setup.campaign, setup.send, decided.sendable)
            if ledger.holds_claims(session):  # the rows stay locked through the send: one write each
                delivered = _deliver(
                    setup, workspace_id, channel, decided, content, database=database, now=now
                )
                return _record(
                    session, setup, report, claimed, decided, delivered, lease_until, full=full, now=now
                )
            ledger.write(session, workspace_id, lease_until, decided.outcomes)
            decided.outcomes = []  # written: the second transaction writes only the send's results

        delivered = _deliver(setup, workspace_id, channel, decided, content, database=database, now=now)
        with database.transaction(workspace_id) as session:
            return _record(
                session, setup, report, claimed, decided, delivered, lease_until, full=full, now=now
            )
    except Exception as exc:  # not a provider's answer (_send takes those): a bug or the database
        _count_failed_attempt(database, workspace_id, claimed, exc, now=now)
        raise


def _count_failed_attempt(
    database: Database, workspace_id: uuid.UUID, claimed: list[Claimed], exc: Exception, *, now: datetime
) -> None:
    """A chunk whose transaction failed counts the attempt for its rows the failure put back to
    ``queued``: they are retried later and fail once out of attempts, instead of stopping the
    lane at the same chunk forever. A worker killed outright counts nothing (see above)."""
    if not claimed:
        return
    error = f"dispatch failed: {type(exc).__name__}: {exc}"[:1000]
    try:
        with database.transaction(workspace_id) as session:
            ledger.count_failed_attempt(
                session,
                workspace_id,
                claimed,
                error=error,
                retry_at=now + timedelta(seconds=RETRY_BACKOFF_S),
                max_attempts=database.settings.dispatch_max_attempts,
            )
    except Exception:  # the database itself is away: the lane's restart tries again later
        log.warning("could not count the failed attempt of %d deliveries", len(claimed), exc_info=True)


def _record(
    session: Session,
    setup: _Setup,
    report: ChunkReport,
    claimed: list[Claimed],
    decided: _Decisions,
    delivered: _Delivered,
    lease_until: datetime,
    *,
    full: bool,
    now: datetime,
) -> tuple[ChunkReport, list[Job]]:
    """Write the outcomes not yet written and what the provider told us; continue the lane."""
    workspace_id, send_id, outcomes = setup.send.workspace_id, setup.send.id, delivered.outcomes
    _count(report, outcomes)
    unwritten = decided.outcomes + outcomes
    report.lost = len(unwritten) - ledger.write(session, workspace_id, lease_until, unwritten)
    apply_feedback(session, delivered.messages, delivered.results)
    dispatch_metrics.record_outcomes(setup.campaign.channel, outcomes)
    dispatch_metrics.record_provider_errors(setup.campaign.channel, delivered.results)
    # The lane comes back for rows it requeued (throttled, or a provider asked to retry later).
    waits = [w for w in (decided.throttle_wait, _retry_wait(outcomes, now)) if w is not None]
    if not (full or waits):
        return report, []  # nothing due is left; the planner starts lanes when more is
    touch(session, workspace_id, send_id, now)
    # Requeued rows are due later, so they too lie past this chunk's position. A lane the rates
    # held back waits for tokens even after a full chunk: claiming again at once would only
    # write the next chunk back to the queue.
    if decided.throttle_wait is not None:
        delay = min(MAX_LANE_DELAY_S, max(0.05, decided.throttle_wait))
    else:
        delay = 0.0 if full else min(MAX_LANE_DELAY_S, max(0.05, min(waits)))
    return report, [lane_job(workspace_id, send_id, after=ledger.last_position(claimed), delay_s=delay)]


def _quiet_since(send: Send, since: datetime) -> bool:
    """No lane activity recorded since ``since``. A waiting lane wakes as often as every 50 ms:
    recording each wake-up rewrote the send's row that often, for each lane; a quarter of the
    planner's stall window keeps it as safely clear of a restart."""
    return send.dispatch_seen_at is None or send.dispatch_seen_at < since


def _retry_wait(outcomes: list[ledger.Outcome], now: datetime) -> float | None:
    """Seconds until the first retried row is due again, if any."""
    due = [o.due_at for o in outcomes if o.status == DeliveryStatus.queued and o.due_at is not None]
    return (min(due) - now).total_seconds() if due else None
