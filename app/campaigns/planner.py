"""The planner, run every minute (Celery beat, or the in-process scheduler when embedded).

Each step discovers candidate rows across workspaces with a plain read, then works on each one
in a transaction scoped to its workspace that first re-claims it with ``FOR UPDATE SKIP
LOCKED``: two planners at once split the work, and a candidate already handled no longer
matches. Every write is idempotent (unique keys, ``ON CONFLICT DO NOTHING``), so running a
step twice changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Row, and_, exists, or_, select
from sqlalchemy.orm import Session

from app.campaigns import audience as audiences
from app.campaigns import occurrences, service, snapshot, split
from app.campaigns.schemas import Recurring
from app.campaigns.timing import Timing, optimal_instants, planning_horizon, zone_moment
from app.delivery import ledger
from app.delivery.lanes import start_lanes
from app.experiments import rollout
from app.journeys.sends import OCCURRENCE_PREFIX as JOURNEY_OCCURRENCE
from app.journeys.sends import SCHEDULE_TYPE as JOURNEY_SCHEDULE
from app.kit import sql
from app.kit.db import Database, scope_to_system
from app.kit.jobs import Job
from app.kit.metrics import LEASES_RECLAIMED, PLANNER_TICK
from app.kit.settings import Settings
from app.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Send, SendStatus, Workspace

Emit = Callable[[list[Job]], None]
ACTIVE_SENDS = (SendStatus.planning, SendStatus.dispatching)


@dataclass
class TickReport:
    planned_sends: int = 0
    queued: int = 0
    occurrences: int = 0
    reclaimed: int = 0
    restarted_sends: int = 0
    finished_sends: int = 0
    completed_campaigns: int = 0
    details: list[str] = field(default_factory=list)


def _candidates(database: Database, stmt: object) -> list[Row[tuple[uuid.UUID, uuid.UUID]]]:
    with database.transaction() as session:
        scope_to_system(session)
        return list(session.execute(stmt).all())  # type: ignore[call-overload]


# Planning sends -------------------------------------------------------------------------------


def plan_send(
    database: Database, settings: Settings, workspace_id: uuid.UUID, send_id: uuid.UUID, *, now: datetime
) -> tuple[int, list[Job]] | None:
    """Snapshot every zone of one send whose moment has come. None: another planner holds the
    send, or it is not due."""
    with database.transaction(workspace_id) as session:
        send = session.scalars(
            select(Send)
            .where(Send.id == send_id, Send.status == SendStatus.planning, Send.next_plan_at <= now)
            .with_for_update(skip_locked=True)
        ).first()
        if send is None:
            return None
        campaign = session.scalars(select(Campaign).where(Campaign.id == send.campaign_id)).one()
        workspace = session.get(Workspace, workspace_id)
        parallel = _parallel(database, settings)
        zone = workspace.timezone if workspace else "UTC"
        queued = _plan(session, send, campaign, zone, parallel, now=now)
        jobs: list[Job] = []
        if send.planned_zones and campaign.status == CampaignStatus.scheduled:
            campaign.status = CampaignStatus.running
        if queued and campaign.status == CampaignStatus.running:
            jobs = start_lanes(session, workspace_id, send.id, lanes=settings.dispatch_lanes, now=now)
    return queued, jobs


def _parallel(database: Database, settings: Settings) -> split.Parallel | None:
    """Large waves split on Postgres, into no more parts than the pool has connections beside
    the planning transaction's own."""
    parts = min(settings.plan_parallel_parts, 2 * settings.database_pool_size - 1)
    if not database.is_postgres or parts < 2:
        return None
    return split.Parallel(database, parts, settings.plan_parallel_min_rows)


def _plan(
    session: Session,
    send: Send,
    campaign: Campaign,
    workspace_zone: str,
    parallel: split.Parallel | None,
    *,
    now: datetime,
) -> int:
    """Plan the send's due waves; returns the rows they added to the send's planned count."""
    timing = Timing.from_json(send.timing)
    where = audiences.condition(session, send.workspace_id, audiences.parse(campaign.audience), now=now)
    share = rollout.share_condition(campaign, send)
    if share is not None:
        where = and_(where, share)
    planned = list(send.planned_zones)
    waiting: list[datetime] = []
    left_over = _left_over(session, send)
    queued = 0
    if timing.per_zone:
        groups = audiences.zone_groups(audiences.distinct_zones(session, where), workspace_zone)
    else:
        groups = {"*": []}  # a UTC instant: everyone at once, no zone filter
    for zone, raws in sorted(groups.items()):
        if zone in planned:
            continue
        moment = zone_moment(timing, zone, send.starts_at)
        if moment is not None and moment > now:
            waiting.append(moment)
            continue
        if moment is not None:
            if send.occurrence == rollout.ROLLOUT and send.decision is None:
                # Chosen once, when the first zone's roll-out is due; later zones send the same.
                send.decision = rollout.decide(session, campaign, now=now)
                # It commits with this transaction: a part committing rows before it could see
                # them dispatched without the winner (lanes restarted after a failed attempt).
                parallel = None
            queued += _snapshot_zone(
                session, send, campaign, timing, where, zone, raws, moment, parallel, now=now
            )
        planned.append(zone)
    if left_over:
        # The rerun's row counts skip what the failed attempt committed: count what the send
        # holds (never lowered: retention may have removed finished rows of a long send).
        held = max(ledger.count_of_send(session, send), send.planned_count)
        queued = held - send.planned_count
    send.planned_count += queued
    send.planned_zones = planned
    horizon = planning_horizon(timing, send.starts_at)
    if waiting or horizon > now:
        send.next_plan_at = min([*waiting, horizon] if horizon > now else waiting)
    else:
        send.status = SendStatus.dispatching
        send.next_plan_at = None
    return queued


# How far the database's clock may lag the planner's (NTP keeps them within milliseconds): rows
# an attempt made are looked for from this long before the send came due. Kept short, as the
# probe also reads the rows other sends of the workspace made since then.
CLOCK_SKEW = timedelta(seconds=5)


def _left_over(session: Session, send: Send) -> bool:
    """Whether an earlier attempt at the due waves left rows: the parts of a split wave commit
    on their own (Postgres), so one that failed may have. Rows of the waves planned before were
    made before the send came due again (``next_plan_at``); a row made since can only be one."""
    if send.next_plan_at is None or not sql.is_postgres(session):
        return False
    return ledger.has_rows_since(session, send, send.next_plan_at - CLOCK_SKEW)


def _snapshot_zone(
    session: Session,
    send: Send,
    campaign: Campaign,
    timing: Timing,
    where: ColumnElement[bool],
    zone: str,
    raws: list[str | None],
    moment: datetime,
    parallel: split.Parallel | None,
    *,
    now: datetime,
) -> int:
    """One zone's wave (or, for a UTC instant, everyone): its users queued for their moment."""
    if timing.per_zone:
        where = and_(where, audiences.in_zones(raws))
    if timing.mode != "optimal":
        return snapshot.insert_wave(session, send, campaign, where, due_at=moment, now=now, parallel=parallel)
    by_hour, fallback = optimal_instants(timing, zone, send.starts_at)
    return snapshot.insert_by_habit(
        session,
        send,
        campaign,
        where,
        by_hour=by_hour,
        fallback=fallback,
        events=timing.engagement_events,
        now=now,
    )


def plan_due_sends(
    database: Database, settings: Settings, emit: Emit, report: TickReport, *, now: datetime
) -> None:
    due = select(Send.workspace_id, Send.id).where(
        Send.status == SendStatus.planning, Send.next_plan_at <= now
    )
    for workspace_id, send_id in _candidates(database, due):
        outcome = plan_send(database, settings, workspace_id, send_id, now=now)
        if outcome is not None:
            report.planned_sends += 1
            report.queued += outcome[0]
            emit(outcome[1])


# Recurring occurrences ------------------------------------------------------------------------


def create_occurrences(database: Database, emit: Emit, report: TickReport, *, now: datetime) -> None:
    due = select(Campaign.workspace_id, Campaign.id).where(
        Campaign.status.in_((CampaignStatus.scheduled, CampaignStatus.running)), Campaign.next_run_at <= now
    )
    for workspace_id, campaign_id in _candidates(database, due):
        with database.transaction(workspace_id) as session:
            campaign = session.scalars(
                select(Campaign)
                .where(Campaign.id == campaign_id, Campaign.next_run_at <= now)
                .with_for_update(skip_locked=True)
            ).first()
            if campaign is None or campaign.launched_at is None:
                continue
            created, jobs = _next_occurrence(session, campaign, now=now)
            report.occurrences += created
        emit(jobs)


def _next_occurrence(session: Session, campaign: Campaign, *, now: datetime) -> tuple[bool, list[Job]]:
    rule = Recurring.model_validate(campaign.schedule)
    assert campaign.launched_at is not None
    last = session.scalars(
        select(Send.occurrence)
        .where(Send.campaign_id == campaign.id)
        .order_by(Send.occurrence.desc())
        .limit(1)
    ).first()
    after = date.fromisoformat(last) if last else None
    occurrence = occurrences.next_recurring(rule, after=after, launched_at=campaign.launched_at)
    # Skip occurrences missed entirely (planner down, campaign paused through them).
    while occurrence is not None and planning_horizon(occurrence.timing) < now and after is not None:
        after = date.fromisoformat(occurrence.key)
        occurrence = occurrences.next_recurring(rule, after=after, launched_at=campaign.launched_at)
    jobs: list[Job] = []
    send = None
    if occurrence is not None and occurrences.creation_time(occurrence) <= now:
        send = service.new_send(session, campaign, occurrence, now=now)
        if send is not None and send.next_plan_at is not None and send.next_plan_at <= now:
            jobs.append(service.plan_job(campaign.workspace_id, send.id))
        occurrence = occurrences.next_recurring(
            rule, after=date.fromisoformat(occurrence.key), launched_at=campaign.launched_at
        )
    campaign.next_run_at = occurrences.creation_time(occurrence) if occurrence else None
    return send is not None, jobs


# Leases, stalled lanes, completion ------------------------------------------------------------


def reclaim_leases(database: Database, settings: Settings, report: TickReport, *, now: datetime) -> None:
    expired = (
        select(Delivery.workspace_id, Delivery.send_id)
        .where(Delivery.status == DeliveryStatus.sending, Delivery.lease_until < now)
        .distinct()
    )
    for workspace_id in {row.workspace_id for row in _candidates(database, expired)}:
        with database.transaction(workspace_id) as session:
            reclaimed = ledger.reclaim_expired(
                session, workspace_id, now=now, max_attempts=settings.dispatch_max_attempts
            )
        report.reclaimed += reclaimed
        LEASES_RECLAIMED.inc(reclaimed)


def _has_due_rows(session: Session, send_id: uuid.UUID, now: datetime) -> bool:
    due = exists().where(
        Delivery.send_id == send_id, Delivery.status == DeliveryStatus.queued, Delivery.due_at <= now
    )
    return bool(session.scalar(select(due)))


def restart_stalled(
    database: Database, settings: Settings, emit: Emit, report: TickReport, *, now: datetime
) -> None:
    quiet_since = now - timedelta(seconds=settings.dispatch_stall_s)
    stalled = (
        select(Send.workspace_id, Send.id)
        .join(Campaign, and_(Campaign.workspace_id == Send.workspace_id, Campaign.id == Send.campaign_id))
        .where(
            Send.status.in_(ACTIVE_SENDS),
            Campaign.status == CampaignStatus.running,
            or_(Send.dispatch_seen_at.is_(None), Send.dispatch_seen_at < quiet_since),
        )
    )
    for workspace_id, send_id in _candidates(database, stalled):
        with database.transaction(workspace_id) as session:
            locked = session.scalars(
                select(Send.id)
                .where(
                    Send.id == send_id,
                    or_(Send.dispatch_seen_at.is_(None), Send.dispatch_seen_at < quiet_since),
                )
                .with_for_update(skip_locked=True)
            ).first()
            if locked is None or not _has_due_rows(session, send_id, now):
                continue
            jobs = start_lanes(session, workspace_id, send_id, lanes=settings.dispatch_lanes, now=now)
        report.restarted_sends += 1
        emit(jobs)


def finish(database: Database, report: TickReport, *, now: datetime) -> None:
    """Sends with nothing queued or in flight are done; campaigns with nothing left complete."""
    open_sends = select(Send.workspace_id, Send.id).where(Send.status == SendStatus.dispatching)
    for workspace_id, send_id in _candidates(database, open_sends):
        with database.transaction(workspace_id) as session:
            send = session.scalars(
                select(Send).where(Send.id == send_id).with_for_update(skip_locked=True)
            ).first()
            if send is None or send.status != SendStatus.dispatching:
                continue
            if (
                send.occurrence.startswith("trigger:")
                and send.occurrence >= f"trigger:{now.date().isoformat()}"
            ):
                continue  # today's trigger send still takes entries
            if send.occurrence.startswith(JOURNEY_OCCURRENCE):
                continue  # a journey step's send takes entries while the journey lives
            if not ledger.has_unfinished(session, send):
                send.status = SendStatus.done
                send.finished_at = now
                report.finished_sends += 1
    live = select(Campaign.workspace_id, Campaign.id).where(
        Campaign.status.in_((CampaignStatus.scheduled, CampaignStatus.running)),
        Campaign.next_run_at.is_(None),
        Campaign.schedule["type"].as_string().not_in(("triggered", JOURNEY_SCHEDULE)),
    )
    for workspace_id, campaign_id in _candidates(database, live):
        with database.transaction(workspace_id) as session:
            campaign = session.scalars(
                select(Campaign).where(Campaign.id == campaign_id).with_for_update(skip_locked=True)
            ).first()
            live_now = (CampaignStatus.scheduled, CampaignStatus.running)  # scheduled: nobody to plan
            if campaign is None or campaign.status not in live_now or campaign.next_run_at is not None:
                continue
            unfinished = session.scalar(
                select(exists().where(Send.campaign_id == campaign_id, Send.status.in_(ACTIVE_SENDS)))
            )
            if not unfinished:
                campaign.status = CampaignStatus.completed
                campaign.finished_at = now
                report.completed_campaigns += 1


def tick(database: Database, settings: Settings, emit: Emit, *, now: datetime) -> TickReport:
    report = TickReport()
    with PLANNER_TICK.time():
        create_occurrences(database, emit, report, now=now)
        plan_due_sends(database, settings, emit, report, now=now)
        reclaim_leases(database, settings, report, now=now)
        restart_stalled(database, settings, emit, report, now=now)
        finish(database, report, now=now)
    return report


def cancel_queued(database: Database, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
    with database.transaction(workspace_id) as session:
        return ledger.cancel_queued(session, workspace_id, campaign_id)
