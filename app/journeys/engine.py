"""The journey engine: advance due states in batches.

A batch is one transaction scoped to a workspace: it claims up to ``limit`` due active states
of live journeys with ``FOR UPDATE SKIP LOCKED`` (so workers split the work, and a row's lock
is its lease: held while the batch runs, released by Postgres if the worker dies), walks each
one through its steps until it waits or exits, and writes everything at once: the step
journal, queued deliveries for send steps, attribute updates and the states. Every step is a
journal row keyed by (state, seq), inserted ``ON CONFLICT DO NOTHING ... RETURNING``; a state
whose row already exists is left alone, so no step ever happens twice, and a crash before the
commit leaves nothing behind, so no step is ever skipped.

``now`` is a parameter: the engine never reads the clock, so tests drive it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.campaigns.audience import effective_zone
from app.campaigns.triggers import matches
from app.journeys import bulk, definitions, sends
from app.journeys.definitions import Version
from app.journeys.schemas import (
    Branch,
    Exit,
    SendStep,
    Split,
    UpdateAttribute,
    Wait,
    WaitForEvent,
    WaitUntil,
)
from app.kit.db import current_workspace
from app.kit.timezones import next_local_time
from app.models import Event, Segment, User, Workspace
from app.models.journey import Journey, JourneyStatus
from app.models.journey_state import JourneyState, StateStatus
from app.segments import compiler

Claimed = Any  # a row of _CLAIMED: a state's columns, read without building ORM objects
MAX_STEPS_PER_ADVANCE = 1000  # the graph check forbids cycles without a wait; this is a fuse


@dataclass
class BatchReport:
    states: int = 0
    steps: int = 0
    exited: int = 0
    skipped: int = 0  # states whose step was already journaled (never expected)
    sends: set[uuid.UUID] = field(default_factory=set)


@dataclass
class _Plan:
    """What advancing one state wants to write, applied only if its journal rows are new."""

    state: Claimed
    journal: list[dict[str, Any]] = field(default_factory=list)
    completed: tuple[int, str] | None = None  # (seq, outcome) of the wait it finished
    deliveries: list[tuple[uuid.UUID, str, uuid.UUID, int]] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)


class _Facts:
    """What a batch reads in bulk: users' zones, recent events, segment definitions."""

    def __init__(
        self, session: Session, states: list[Claimed], versions: dict[Any, Version], now: datetime
    ) -> None:
        self.session = session
        self.now = now
        workspace = session.get(Workspace, current_workspace(session))
        self.workspace_zone = workspace.timezone if workspace else "UTC"
        user_ids = list({s.user_id for s in states})
        self.zones: dict[uuid.UUID, str | None] = {}
        if any(isinstance(s, WaitUntil) for v in versions.values() for s in v.definition.steps):
            zones = session.execute(select(User.id, User.timezone).where(User.id.in_(user_ids)))
            self.zones = {user_id: zone for user_id, zone in zones}
        names: set[str] = set()
        for version in versions.values():
            names |= {g.event for g in version.definition.goals}
            names |= {s.event for s in version.definition.steps if isinstance(s, WaitForEvent)}
        self.events: dict[uuid.UUID, list[tuple[str, datetime, dict[str, Any]]]] = defaultdict(list)
        if names and states:
            since = min(s.entered_at for s in states)
            rows = session.execute(
                select(Event.user_id, Event.name, Event.occurred_at, Event.properties).where(
                    Event.user_id.in_(user_ids),
                    Event.name.in_(sorted(names)),
                    Event.occurred_at >= since,
                    Event.occurred_at <= now,
                )
            )
            for user_id, name, occurred, properties in rows:
                self.events[user_id].append((name, occurred, properties or {}))
        self._segments: dict[uuid.UUID, dict[str, Any] | None] = {}

    def happened(self, user_id: uuid.UUID, name: str, filters: list[Any], since: datetime) -> bool:
        return any(
            n == name and at >= since and matches(filters, props)
            for n, at, props in self.events.get(user_id, ())
        )

    def zone(self, user_id: uuid.UUID) -> str:
        return effective_zone(self.zones.get(user_id), self.workspace_zone)

    def member(self, step: Branch, user_id: uuid.UUID) -> bool:
        """Membership at the engine's ``now`` (relative dates count from it, not the real
        clock); a saved segment deleted since the journey was saved has no members."""
        definition = step.definition
        if step.segment_id is not None:
            if step.segment_id not in self._segments:
                self._segments[step.segment_id] = self.session.scalars(
                    select(Segment.definition).where(Segment.id == step.segment_id)
                ).first()
            definition = self._segments[step.segment_id]
        return definition is not None and compiler.is_member(self.session, definition, user_id, now=self.now)


def _key(state: Claimed) -> tuple[uuid.UUID, int]:
    return (state.journey_id, state.version)


def split_bucket(journey_id: uuid.UUID, step_id: str, user_id: uuid.UUID) -> int:
    """0..99, stable per (journey, step, user): a user always takes the same path."""
    digest = hashlib.sha256(f"{journey_id}:{step_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def _split(step: Split, journey_id: uuid.UUID, user_id: uuid.UUID) -> tuple[str, str]:
    bucket = split_bucket(journey_id, step.id, user_id)
    total = 0
    for path in step.paths:
        total += path.percent
        if bucket < total:
            return path.key, path.next
    raise AssertionError("split percentages add up to 100")


def _deadline(step: Any, since: datetime, facts: _Facts, user_id: uuid.UUID) -> datetime:
    """When a wait begun at ``since`` ends (a wait-for-event: its time-out), recomputed from
    ``since`` so a state woken early by an unrelated event keeps its deadline."""
    if isinstance(step, Wait):
        return since + step.duration.delta
    if isinstance(step, WaitUntil):
        return next_local_time(since, step.time, facts.zone(user_id))
    assert isinstance(step, WaitForEvent)
    return since + step.timeout.delta


def _finish_wait(step: Any, state: Claimed, facts: _Facts, now: datetime) -> tuple[str, str] | None:
    """The (outcome, next) of a wait that is due, or None if it is still running."""
    assert state.waiting_since is not None
    if isinstance(step, WaitForEvent) and facts.happened(
        state.user_id, step.event, step.filters, state.waiting_since
    ):
        return "yes", step.yes
    if now < _deadline(step, state.waiting_since, facts, state.user_id):
        return None
    return ("no", step.no) if isinstance(step, WaitForEvent) else ("done", step.next)


def _goal_met(version: Version, state: Claimed, facts: _Facts) -> bool:
    return any(
        facts.happened(state.user_id, goal.event, goal.filters, state.entered_at)
        for goal in version.definition.goals
    )


def _walk(plan: _Plan, version: Version, facts: _Facts, now: datetime) -> None:
    """Take the state's steps until it waits or exits, recording them in ``plan``."""
    state = plan.state
    step_id, seq, waiting_since = state.step, state.seq, state.waiting_since
    journal = plan.journal

    def exit_(reason: str) -> None:
        plan.changes.update(status=StateStatus.exited, exit_reason=reason, exited_at=now, waiting_since=None)

    if _goal_met(version, state, facts):
        exit_("goal")
        return
    for _ in range(MAX_STEPS_PER_ADVANCE):
        step = version.steps[step_id]
        if waiting_since is not None:  # a wait that began earlier: is it over?
            done = _finish_wait(step, state, facts, now)
            if done is None:
                plan.changes.update(due_at=_deadline(step, waiting_since, facts, state.user_id))
                break
            plan.completed = (seq, done[0])
            step_id, seq, waiting_since = done[1], seq + 1, None
            continue
        row: dict[str, Any] = {"seq": seq, "step": step_id, "outcome": None}
        journal.append(row)
        if isinstance(step, Wait | WaitUntil | WaitForEvent):
            waiting_since = now
            plan.changes.update(due_at=_deadline(step, now, facts, state.user_id))
            break
        if isinstance(step, Exit):
            row["outcome"] = "exit"
            exit_("exit")
            break
        if isinstance(step, Branch):
            row["outcome"] = "yes" if facts.member(step, state.user_id) else "no"
            nxt = step.yes if row["outcome"] == "yes" else step.no
        elif isinstance(step, Split):
            row["outcome"], nxt = _split(step, state.journey_id, state.user_id)
        elif isinstance(step, SendStep):
            campaign_id = version.campaigns[step.id]
            plan.deliveries.append((campaign_id, step.channel, state.user_id, state.entry))
            row["outcome"], nxt = "done", step.next
        elif isinstance(step, UpdateAttribute):
            plan.attributes[step.attribute] = step.value
            row["outcome"], nxt = "done", step.next
        else:
            raise AssertionError(f"unknown step {step!r}")
        step_id, seq = nxt, seq + 1
    plan.changes.update(step=step_id, seq=seq, waiting_since=waiting_since)


_CLAIMED = (
    JourneyState.id,
    JourneyState.journey_id,
    JourneyState.version,
    JourneyState.user_id,
    JourneyState.entry,
    JourneyState.status,
    JourneyState.step,
    JourneyState.seq,
    JourneyState.due_at,
    JourneyState.waiting_since,
    JourneyState.entered_at,
    JourneyState.exited_at,
    JourneyState.exit_reason,
)


def claim(session: Session, *, now: datetime, limit: int) -> list[Claimed]:
    """Due active states of live journeys, locked for this transaction (others skip them)."""
    return list(
        session.execute(
            select(*_CLAIMED)
            .join(
                Journey,
                (Journey.workspace_id == JourneyState.workspace_id) & (Journey.id == JourneyState.journey_id),
            )
            .where(
                JourneyState.status == StateStatus.active,
                JourneyState.due_at <= now,
                Journey.status == JourneyStatus.live,
            )
            .order_by(JourneyState.due_at)
            .limit(limit)
            .with_for_update(of=JourneyState, skip_locked=True)
        )
    )


def advance_batch(session: Session, *, now: datetime, limit: int) -> BatchReport:
    """Advance up to ``limit`` due states of the session's workspace (see the module doc)."""
    report = BatchReport()
    states = claim(session, now=now, limit=limit)
    if not states:
        return report
    workspace_id = current_workspace(session)
    versions = definitions.load(session, {_key(s) for s in states})
    facts = _Facts(session, states, versions, now)
    plans = [_Plan(s) for s in states]
    for plan in plans:
        _walk(plan, versions[_key(plan.state)], facts, now)
    journal = [
        {
            "state_id": plan.state.id,
            "seq": r["seq"],
            "journey_id": plan.state.journey_id,
            "version": plan.state.version,
            "step": r["step"],
            "outcome": r["outcome"],
        }
        for plan in plans
        for r in plan.journal
    ]
    fresh = bulk.insert_journal(session, workspace_id, journal, now)
    deliveries: list[tuple[uuid.UUID, str, uuid.UUID, int]] = []
    outcomes: list[tuple[uuid.UUID, int, str]] = []
    updates: list[dict[str, Any]] = []
    attributes: dict[uuid.UUID, dict[str, Any]] = defaultdict(dict)
    for plan in plans:
        state = plan.state
        if any((state.id, r["seq"]) not in fresh for r in plan.journal):
            report.skipped += 1
            continue
        deliveries.extend(plan.deliveries)
        attributes[state.user_id].update(plan.attributes)
        if plan.completed is not None:
            outcomes.append((state.id, *plan.completed))
        current = state._mapping
        updates.append({"id": state.id, **{n: plan.changes.get(n, current[n]) for n in bulk.STATE_FIELDS}})
        report.states += 1
        report.steps += len(plan.journal)
        report.exited += plan.changes.get("status") == StateStatus.exited
    bulk.set_outcomes(session, workspace_id, outcomes)
    bulk.update_states(session, workspace_id, updates)
    _update_attributes(session, attributes)
    report.sends = sends.queue_deliveries(session, workspace_id, deliveries, now=now)
    return report


def _update_attributes(session: Session, changes: dict[uuid.UUID, dict[str, Any]]) -> None:
    wanted = {user_id: attrs for user_id, attrs in changes.items() if attrs}
    if not wanted:
        return
    for user in session.scalars(select(User).where(User.id.in_(list(wanted)))):
        user.attributes = {**(user.attributes or {}), **wanted[user.id]}
    session.flush()
