"""The dispatch task: one chunk of one send, continuing its lane while work remains."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from functools import cache
from typing import Any

from app.delivery import dispatcher
from app.delivery.crashes import CrashMarks
from app.delivery.lanes import DISPATCH_QUEUE, DISPATCH_TASK, parse_after
from app.delivery.throttle import Buckets, MemoryBuckets, RedisBuckets
from app.worker.registry import TaskContext, task


@cache
def _buckets(redis_url: str | None) -> Buckets:
    return RedisBuckets(redis_url) if redis_url else MemoryBuckets()


@cache
def _crash_marks(redis_url: str | None, max_crashes: int) -> CrashMarks | None:
    return CrashMarks(redis_url, max_crashes=max_crashes) if redis_url else None


@task(DISPATCH_TASK, queue=DISPATCH_QUEUE)
def dispatch_chunk(
    ctx: TaskContext, *, workspace_id: str, send_id: str, after: list[str] | None = None
) -> dict[str, Any]:
    settings = ctx.database.settings
    report, jobs = dispatcher.dispatch_chunk(
        ctx.database,
        _buckets(settings.rate_limit_redis_url),
        workspace_id=uuid.UUID(workspace_id),
        send_id=uuid.UUID(send_id),
        after=parse_after(after),
        crash_marks=_crash_marks(settings.rate_limit_redis_url, settings.dispatch_max_crashes),
    )
    for job in jobs:
        ctx.sink.send(job)
    return asdict(report)
