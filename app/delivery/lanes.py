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


def lane_job(workspace_id: uuid.UUID, send_id: uuid.UUID) -> Job:
    return Job(DISPATCH_TASK, {"workspace_id": str(workspace_id), "send_id": str(send_id)})


def start_lanes(
    session: Session, workspace_id: uuid.UUID, send_id: uuid.UUID, *, lanes: int, now: datetime
) -> list[Job]:
    """Mark the send's lanes as seen now and return the jobs that start them."""
    session.execute(update(Send).where(Send.id == send_id).values(dispatch_seen_at=now))
    return [lane_job(workspace_id, send_id) for _ in range(lanes)]
