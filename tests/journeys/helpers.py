"""Journey bodies and a simulator that runs every queued job (journey tasks and dispatch
chunks) at a clock the test sets."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.delivery import dispatcher
from app.delivery.lanes import DISPATCH_TASK, parse_after
from app.delivery.throttle import MemoryBuckets
from app.journeys import entry, runner, service
from app.kit.db import Database
from app.kit.ids import uuid7
from app.kit.jobs import Job
from app.models import Device, JourneyState, JourneyStep, User

PUSH = {"title": "Still thinking?", "body": "Your {{ event.properties.item }} is waiting"}
EMAIL = {
    "subject": "{{ user.first_name }}, your {{ event.properties.item }} is still in your cart",
    "text": "Come back for the {{ event.properties.item }}.",
}


def abandoned_cart(**overrides: Any) -> dict[str, Any]:
    definition = {
        "entry": {"type": "event", "event": "cart_add", "next": "wait_purchase"},
        "goals": [{"event": "purchase"}],
        "steps": [
            {
                "id": "wait_purchase",
                "type": "wait_for_event",
                "event": "purchase",
                "timeout": {"hours": 1},
                "yes": "bought",
                "no": "push",
            },
            {"id": "bought", "type": "exit"},
            {
                "id": "push",
                "type": "send",
                "channel": "push",
                "variants": [{"key": "A", "content": PUSH}],
                "next": "wait_day",
            },
            {"id": "wait_day", "type": "wait", "duration": {"days": 1}, "next": "email"},
            {
                "id": "email",
                "type": "send",
                "channel": "email",
                "variants": [{"key": "A", "content": EMAIL}],
                "next": "done",
            },
            {"id": "done", "type": "exit"},
        ],
    }
    definition.update(overrides)
    return copy.deepcopy({"name": "Abandoned cart", "definition": definition})


def api_journey(steps: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    definition = {"entry": {"type": "api", "next": steps[0]["id"]}, "steps": steps, **overrides}
    return copy.deepcopy({"name": "Test journey", "definition": definition})


def add_devices(database: Database, workspace_id: uuid.UUID, user_ids: Sequence[uuid.UUID]) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "id": uuid7(),
            "user_id": u,
            "platform": "fcm",
            "token": f"t-{u}",
            "enabled": True,
        }
        for u in user_ids
    ]
    with database.transaction(workspace_id) as session:
        session.execute(Device.__table__.insert(), rows)


def enter(
    database: Database,
    workspace_id: uuid.UUID,
    journey_id: str,
    names: Sequence[str],
    *,
    now: datetime,
    properties: dict[str, Any] | None = None,
) -> int:
    """Enter users by external id at ``now`` (the API's entry uses the real clock)."""
    with database.transaction(workspace_id) as session:
        journey = service.get(session, uuid.UUID(journey_id))
        users = session.execute(select(User.id).where(User.external_id.in_(list(names)))).scalars().all()
        event = {"name": "api", "properties": properties or {}}
        return entry.enter(
            session, journey, service.definition(session, journey), [(u, event) for u in users], now=now
        )


class Sim:
    """Runs the jobs the app queued (in ``sink``) at the clock the test sets."""

    def __init__(self, database: Database, sink: Any) -> None:
        self.database = database
        self.sink = sink
        self.buckets = MemoryBuckets()

    def _execute(self, job: Job, now: datetime) -> list[Job]:
        out: list[Job] = []
        ws = uuid.UUID(job.kwargs["workspace_id"]) if "workspace_id" in job.kwargs else None
        if job.name == "journeys.handle_events":
            assert ws is not None
            runner.handle_events(
                self.database, ws, [uuid.UUID(i) for i in job.kwargs["event_ids"]], out.extend, now=now
            )
        elif job.name == runner.ADVANCE_TASK:
            assert ws is not None
            runner.advance(self.database, ws, out.extend, now=now)
        elif job.name == DISPATCH_TASK:
            assert ws is not None
            _, out = dispatcher.dispatch_chunk(
                self.database,
                self.buckets,
                workspace_id=ws,
                send_id=uuid.UUID(job.kwargs["send_id"]),
                after=parse_after(job.kwargs.get("after")),
                now=now,
            )
        elif job.name != "campaigns.handle_triggers":
            raise AssertionError(f"unexpected job {job.name}")
        return out

    def run(self, now: datetime) -> None:
        """The journeys tick, then every queued job and the jobs they queue, at ``now``."""
        runner.tick(self.database, self.sink.jobs.extend, now=now)
        while self.sink.jobs:
            job = self.sink.jobs.pop(0)
            self.sink.jobs.extend(self._execute(job, now))


def paths(database: Database, workspace_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Each user's pass: its steps as (step, outcome) in order, status and exit reason."""
    with database.transaction(workspace_id) as session:
        states = session.execute(
            select(
                JourneyState.id,
                User.external_id,
                JourneyState.status,
                JourneyState.exit_reason,
                JourneyState.step,
                JourneyState.entry,
            ).join(User, (User.workspace_id == JourneyState.workspace_id) & (User.id == JourneyState.user_id))
        ).all()
        journal: dict[uuid.UUID, list[tuple[int, str, str | None]]] = {}
        for state_id, seq, step, outcome in session.execute(
            select(JourneyStep.state_id, JourneyStep.seq, JourneyStep.step, JourneyStep.outcome)
        ):
            journal.setdefault(state_id, []).append((seq, step, outcome))
    found: dict[str, dict[str, Any]] = {}
    for state_id, external_id, status, reason, step, number in states:
        rows = sorted(journal.get(state_id, []))
        assert [seq for seq, _, _ in rows] == list(range(len(rows))), (external_id, rows)
        found[f"{external_id}#{number}"] = {
            "path": [(s, o) for _, s, o in rows],
            "status": status,
            "exit": reason,
            "at": step,
        }
    return found
