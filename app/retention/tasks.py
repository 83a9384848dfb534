from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.models import Workspace
from app.models.base import utcnow
from app.retention.service import BATCH, purge_events_batch
from app.worker.registry import TaskContext, task


@task("retention.purge", every_s=3600)
def purge(ctx: TaskContext) -> int:
    """Apply the retention settings to every workspace, one short transaction per batch."""
    days = ctx.database.settings.event_retention_days
    if days is None:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    with ctx.database.transaction() as session:
        workspace_ids = list(session.scalars(select(Workspace.id)))
    deleted = 0
    for workspace_id in workspace_ids:
        while True:
            with ctx.database.transaction(workspace_id) as session:
                count = purge_events_batch(session, cutoff)
            deleted += count
            if count < BATCH:
                break
    return deleted
