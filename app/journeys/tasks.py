"""Journey tasks: the tick, advancing one workspace, and the ingest wake-up."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from app.journeys import runner
from app.kit.jobs import Job
from app.models.base import utcnow
from app.worker.registry import TaskContext, task

TICK_EVERY_S = 30


def _emit(ctx: TaskContext) -> runner.Emit:
    def emit(jobs: list[Job]) -> None:
        for job in jobs:
            ctx.sink.send(job)

    return emit


@task("journeys.tick", every_s=TICK_EVERY_S)
def tick(ctx: TaskContext) -> int:
    return runner.tick(ctx.database, _emit(ctx), now=utcnow())


@task(runner.ADVANCE_TASK)
def advance(ctx: TaskContext, *, workspace_id: str) -> dict[str, Any]:
    return asdict(runner.advance(ctx.database, uuid.UUID(workspace_id), _emit(ctx), now=utcnow()))


@task("journeys.handle_events")
def handle_events(ctx: TaskContext, *, workspace_id: str, event_ids: list[str]) -> list[int]:
    entered, woken = runner.handle_events(
        ctx.database, uuid.UUID(workspace_id), [uuid.UUID(i) for i in event_ids], _emit(ctx), now=utcnow()
    )
    return [entered, woken]
