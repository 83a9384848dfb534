"""Running the engine over the database: the tick (segment entries, then every workspace
with due states), advancing one workspace batch by batch, and the ingest wake-up. Each
batch is its own transaction; dispatch lanes for the step sends it queued start after it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from app.delivery.lanes import start_lanes
from app.journeys import engine, entry, listen
from app.journeys.schemas import Definition, SegmentEntry
from app.kit.db import Database, scope_to_system
from app.kit.jobs import Job
from app.models import Segment, User
from app.models.journey import Journey, JourneyStatus
from app.models.journey_state import JourneyState, StateStatus
from app.models.journey_version import JourneyVersion
from app.segments import compiler

Emit = Callable[[list[Job]], None]
ADVANCE_TASK = "journeys.advance"
ADVANCE_BUDGET_S = 20.0  # then the task hands the rest to a fresh one


@dataclass
class AdvanceReport:
    batches: int = 0
    states: int = 0
    steps: int = 0
    more: bool = False


def advance_job(workspace_id: uuid.UUID) -> Job:
    return Job(ADVANCE_TASK, {"workspace_id": str(workspace_id)})


def _lanes(
    session: Session, workspace_id: uuid.UUID, send_ids: set[uuid.UUID], lanes: int, now: datetime
) -> list[Job]:
    return [
        job
        for send_id in sorted(send_ids)
        for job in start_lanes(session, workspace_id, send_id, lanes=lanes, now=now)
    ]


def advance(
    database: Database,
    workspace_id: uuid.UUID,
    emit: Emit,
    *,
    now: datetime,
    budget_s: float = ADVANCE_BUDGET_S,
) -> AdvanceReport:
    """Advance the workspace's due states until none is left or the time budget is spent."""
    batch = database.settings.journey_batch_size
    report = AdvanceReport()
    started = time.monotonic()
    while True:
        with database.transaction(workspace_id) as session:
            done = engine.advance_batch(session, now=now, limit=batch)
            jobs = _lanes(session, workspace_id, done.sends, database.settings.dispatch_lanes, now)
        emit(jobs)
        report.batches += 1
        report.states += done.states
        report.steps += done.steps
        if done.states + done.skipped < batch:
            return report
        if time.monotonic() - started > budget_s:
            report.more = True
            emit([advance_job(workspace_id)])
            return report


def enter_segments(database: Database, *, now: datetime) -> int:
    """Members of a live journey's entry segment enter (the re-entry rule decides who again)."""
    with database.transaction() as session:
        scope_to_system(session)
        live = session.execute(
            select(Journey.workspace_id, Journey.id, JourneyVersion.definition)
            .join(
                JourneyVersion,
                and_(
                    JourneyVersion.workspace_id == Journey.workspace_id,
                    JourneyVersion.journey_id == Journey.id,
                    JourneyVersion.version == Journey.version,
                ),
            )
            .where(
                Journey.status == JourneyStatus.live,
                JourneyVersion.definition["entry"]["type"].as_string() == "segment",
            )
        ).all()
    entered = 0
    for workspace_id, journey_id, doc in live:
        definition = Definition.model_validate(doc)
        assert isinstance(definition.entry, SegmentEntry)
        with database.transaction(workspace_id) as session:
            journey = session.scalars(
                select(Journey)
                .where(Journey.id == journey_id, Journey.status == JourneyStatus.live)
                .with_for_update(skip_locked=True)
            ).first()
            segment = session.scalars(
                select(Segment.definition).where(Segment.id == definition.entry.segment_id)
            ).first()
            if journey is None or segment is None:
                continue
            members = compiler.members_select(
                workspace_id, segment, dialect=session.get_bind().dialect.name, now=now
            ).subquery()
            inside = select(JourneyState.user_id).where(JourneyState.journey_id == journey_id)
            if definition.reentry.mode != "once":  # the rest is the re-entry rule's to judge
                inside = inside.where(JourneyState.status == StateStatus.active)
            users = session.scalars(
                select(User.id).where(User.id.in_(select(members.c.user_id)), User.id.not_in(inside))
            ).all()
            entered += entry.enter(
                session,
                journey,
                definition,
                [(u, {"name": "segment", "properties": {}}) for u in users],
                now=now,
            )
    return entered


def due_workspaces(database: Database, *, now: datetime) -> list[uuid.UUID]:
    with database.transaction() as session:
        scope_to_system(session)
        return list(
            session.scalars(
                select(JourneyState.workspace_id)
                .where(JourneyState.status == StateStatus.active, JourneyState.due_at <= now)
                .distinct()
            )
        )


def tick(database: Database, emit: Emit, *, now: datetime) -> int:
    """Segment entries, then one advance job per workspace with due states."""
    enter_segments(database, now=now)
    workspaces = due_workspaces(database, now=now)
    emit([advance_job(w) for w in workspaces])
    return len(workspaces)


def handle_events(
    database: Database, workspace_id: uuid.UUID, event_ids: list[uuid.UUID], emit: Emit, *, now: datetime
) -> tuple[int, int]:
    """The ingest wake-up: entries and woken states, then an advance at once."""
    with database.transaction(workspace_id) as session:
        entered, woken = listen.handle(session, event_ids, now=now)
    if entered or woken:
        advance(database, workspace_id, emit, now=now)
    return entered, woken
