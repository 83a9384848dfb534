from __future__ import annotations

from app.kit.db import scope_to_system
from app.models.base import utcnow
from app.operators import sessions, throttle
from app.worker.registry import TaskContext, task


@task("operators.purge_expired", every_s=3600)
def purge_expired(ctx: TaskContext) -> dict[str, int]:
    """Forget dashboard sessions past their expiry and rate-limit counts past their window."""
    now = utcnow()
    with ctx.database.transaction() as session:
        scope_to_system(session)
        return {
            "sessions": sessions.purge_expired(session, now),
            "throttles": throttle.purge_expired(session, now),
        }
