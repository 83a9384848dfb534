"""Plain functions for campaign tests: bulk users, campaign bodies, running planner and lanes
with a controllable clock."""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.campaigns import planner
from app.delivery import dispatcher
from app.delivery.lanes import DISPATCH_TASK, parse_after
from app.delivery.throttle import Buckets, MemoryBuckets
from app.kit.db import Database
from app.kit.ids import uuid7
from app.kit.jobs import Job
from app.models import Delivery, User

T0 = datetime.fromisoformat("2026-03-01T00:00:00+00:00")


def add_users(
    database: Database, workspace_id: uuid.UUID, users: Sequence[dict[str, Any]]
) -> list[uuid.UUID]:
    """Insert users in bulk: each dict needs ``external_id``; other fields optional."""
    rows = []
    for user in users:
        rows.append(
            {
                "workspace_id": workspace_id,
                "id": uuid7(),
                "attributes": {},
                "email_status": "subscribed",
                "push_status": "subscribed",
                "in_app_status": "subscribed",
                "first_seen_at": T0,
                "last_seen_at": T0,
                "created_at": T0,
                "updated_at": T0,
                **dict.fromkeys(("email", "timezone", "first_name", "last_name", "locale", "country")),
                **user,
            }
        )
    with database.transaction(workspace_id) as session:
        session.execute(User.__table__.insert(), rows)
    return [r["id"] for r in rows]


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Spring sale",
        "channel": "in_app",
        "audience": {"type": "all"},
        "variants": [{"key": "A", "content": {"title": "Hi {{ user.first_name }}", "body": "Sale!"}}],
        "schedule": {"type": "immediate"},
    }
    body.update(overrides)
    return body


class Lanes:
    """Runs planner ticks and dispatch jobs in this process, with the clock the test sets."""

    def __init__(self, database: Database, buckets: Buckets | None = None) -> None:
        self.database = database
        self.buckets = buckets or MemoryBuckets()
        self.jobs: list[Job] = []
        self.reports: list[dispatcher.ChunkReport] = []

    def emit(self, jobs: list[Job]) -> None:
        self.jobs.extend(jobs)

    def tick(self, now: datetime) -> planner.TickReport:
        return planner.tick(self.database, self.database.settings, self.emit, now=now)

    def _execute(self, job: Job, now: datetime) -> list[Job]:
        ws, send = uuid.UUID(job.kwargs["workspace_id"]), job.kwargs.get("send_id")
        if job.name == DISPATCH_TASK:
            report, more = dispatcher.dispatch_chunk(
                self.database,
                self.buckets,
                workspace_id=ws,
                send_id=uuid.UUID(send),
                after=parse_after(job.kwargs.get("after")),
                now=now,
            )
            self.reports.append(report)
            return more
        if job.name == "campaigns.plan_send":
            outcome = planner.plan_send(self.database, self.database.settings, ws, uuid.UUID(send), now=now)
            return outcome[1] if outcome else []
        raise AssertionError(f"unexpected job {job.name}")

    def run(self, now: datetime, *, limit: int = 10_000) -> int:
        """Run queued jobs (and the ones they queue) at ``now``, ignoring delays."""
        ran = 0
        while self.jobs and ran < limit:
            ran += 1
            self.jobs.extend(self._execute(self.jobs.pop(0), now))
        return ran

    def simulate(self, start: datetime, end: datetime, *, tick_every: float = 60.0) -> None:
        """Run jobs when their delay has passed and planner ticks every ``tick_every`` seconds,
        on a simulated clock from ``start`` to ``end``."""
        ready: list[tuple[datetime, int, Job]] = []
        order = itertools.count()

        def schedule(jobs: list[Job], now: datetime) -> None:
            for job in jobs:
                heapq.heappush(ready, (now + timedelta(seconds=job.delay_s), next(order), job))

        schedule(self.jobs, start)
        self.jobs.clear()
        next_tick = start
        while True:
            if next_tick <= end and (not ready or next_tick <= ready[0][0]):
                self.tick(next_tick)
                schedule(self.jobs, next_tick)
                self.jobs.clear()
                next_tick += timedelta(seconds=tick_every)
            elif ready and ready[0][0] <= end:
                now, _, job = heapq.heappop(ready)
                schedule(self._execute(job, now), now)
            else:
                return

    def settle(self, now: datetime) -> None:
        """A tick and every job it leads to."""
        self.tick(now)
        self.run(now)


def statuses(database: Database, workspace_id: uuid.UUID) -> dict[str, int]:
    with database.transaction(workspace_id) as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
    return {status: count for status, count in rows}


def deliveries(database: Database, workspace_id: uuid.UUID) -> list[Delivery]:
    with database.transaction(workspace_id) as session:
        return list(session.scalars(select(Delivery)))
