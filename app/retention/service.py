"""Retention: delete old rows in small batches, walking the primary key.

Ids are UUIDv7, ordered by the time they were made, so "received before T" is a range on
``(workspace_id, id)`` — the primary key — and needs no extra index on the hot ingest table.
At very large volumes, monthly partitions dropped whole are cheaper still (docs/operations.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.kit.db import current_workspace
from app.kit.ids import uuid7_floor
from app.models import Event

BATCH = 5000


def purge_events_batch(session: Session, received_before: datetime) -> int:
    """Delete up to BATCH of the workspace's events received before ``received_before``."""
    boundary = uuid7_floor(int(received_before.timestamp() * 1000))
    oldest = (
        select(Event.id)
        .where(Event.workspace_id == current_workspace(session), Event.id < boundary)
        .order_by(Event.id)
        .limit(BATCH)
    )
    result = session.execute(delete(Event).where(Event.id.in_(oldest.scalar_subquery())))
    return result.rowcount or 0
