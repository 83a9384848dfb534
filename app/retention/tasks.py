from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.kit.db import Database
from app.models import Workspace
from app.models.base import utcnow
from app.retention.service import (
    BATCH,
    purge_deliveries_batch,
    purge_events_batch,
    purge_journey_steps_batch,
)
from app.worker.registry import TaskContext, task

PurgeBatch = Callable[[Session, datetime], int]


@task("retention.purge", every_s=3600)
def purge(ctx: TaskContext) -> dict[str, int]:
    """Apply the retention settings to every workspace, one short transaction per batch."""
    settings = ctx.database.settings
    return {
        "events": _purge(ctx.database, purge_events_batch, settings.event_retention_days),
        "deliveries": _purge(ctx.database, purge_deliveries_batch, settings.delivery_retention_days),
        # The journey step journal is the journeys' ledger: it goes with the deliveries.
        "journey_steps": _purge(ctx.database, purge_journey_steps_batch, settings.delivery_retention_days),
    }


def _purge(database: Database, batch: PurgeBatch, days: int | None) -> int:
    if days is None:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    with database.transaction() as session:
        workspace_ids = list(session.scalars(select(Workspace.id)))
    deleted = 0
    for workspace_id in workspace_ids:
        while True:
            with database.transaction(workspace_id) as session:
                count = batch(session, cutoff)
            deleted += count
            if count < BATCH:
                break
    return deleted
