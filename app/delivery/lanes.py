"""Dispatch lanes: each lane is a chain of ``delivery.dispatch_chunk`` tasks for one send, one
chunk per task, continued by the task itself while work remains. A send runs a few lanes in
parallel; the planner restarts lanes for sends whose lanes went quiet (a lost task, a killed
worker) while queued rows are due."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.kit.jobs import Job
from app.models import Send

DISPATCH_TASK = "delivery.dispatch_chunk"
DISPATCH_QUEUE = "dispatch"
S = Send.__table__


def lane_job(
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    delay_s: float = 0.0,
) -> Job:
    """A lane's next chunk; ``after`` is where its last chunk ended (a new lane starts at the front)."""
    kwargs: dict[str, object] = {"workspace_id": str(workspace_id), "send_id": str(send_id)}
    if after is not None:
        kwargs["after"] = [after[0].isoformat(), str(after[1])]
    return Job(DISPATCH_TASK, kwargs, delay_s=delay_s)


def parse_after(value: list[str] | None) -> tuple[datetime, uuid.UUID] | None:
    return None if value is None else (datetime.fromisoformat(value[0]), uuid.UUID(value[1]))


def start_lanes(
    session: Session, workspace_id: uuid.UUID, send_id: uuid.UUID, *, lanes: int, now: datetime
) -> list[Job]:
    """Mark the send's lanes as seen now and return the jobs that start them."""
    touch(session, workspace_id, send_id, now)
    return [lane_job(workspace_id, send_id) for _ in range(lanes)]


def touch(session: Session, workspace_id: uuid.UUID, send_id: uuid.UUID, now: datetime) -> None:
    """Record lane activity, so the planner does not restart lanes that are alive.

    A core statement on the session's connection, filtered to the workspace itself: through
    the ORM (tenant criteria added, matched against the session's objects) it cost each chunk
    a millisecond or two. Loaded ``Send`` objects are left as they are: only the planner's
    queries read the column."""
    stmt = update(S).where(S.c.workspace_id == workspace_id, S.c.id == send_id).values(dispatch_seen_at=now)
    session.connection().execute(stmt)
