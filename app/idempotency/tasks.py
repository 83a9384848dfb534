from __future__ import annotations

from app.idempotency import service
from app.kit.db import scope_to_system
from app.worker.registry import TaskContext, task


@task("idempotency.purge_expired", every_s=3600)
def purge_expired(ctx: TaskContext) -> int:
    """Forget Idempotency-Keys past their 24 hours, across workspaces."""
    with ctx.database.transaction() as session:
        scope_to_system(session)
        return service.purge_expired(session)
