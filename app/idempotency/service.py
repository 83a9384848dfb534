"""``Idempotency-Key`` for POSTs that create or send.

The key is claimed in its own short transaction (so a concurrent duplicate sees the claim
and gets 409), completed with the response inside the request's own transaction (so the work
and its record commit together), and released if the request fails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.db import Database, current_workspace
from app.kit.errors import Conflict, ErrorCode, Invalid
from app.kit.ids import uuid7
from app.models import IdempotencyKey
from app.models.base import utcnow

RETENTION = timedelta(hours=24)
# A claim older than this with no response belongs to a request that died; it may be retaken.
ABANDONED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: bytes


def claim(database: Database, workspace_id: uuid.UUID, key: str, request_hash: str) -> uuid.UUID | Replay:
    """Claim ``key`` for this request, or return the stored response to replay."""
    with database.transaction(workspace_id) as session:
        outcome = _claim(session, workspace_id, key, request_hash)
    if outcome is not None:
        return outcome
    # The other claim was released between our insert and our read: the key is free again.
    with database.transaction(workspace_id) as session:
        outcome = _claim(session, workspace_id, key, request_hash)
    if outcome is None:
        raise _in_progress()
    return outcome


def _claim(
    session: Session, workspace_id: uuid.UUID, key: str, request_hash: str
) -> uuid.UUID | Replay | None:
    now = utcnow()
    claim_id = uuid7()
    inserted = session.execute(
        sql.insert(session, IdempotencyKey)
        .values(workspace_id=workspace_id, id=claim_id, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.id)
    ).first()
    if inserted is not None:
        return claim_id
    existing = session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.key == key).with_for_update()
    ).first()
    if existing is None:
        return None
    expired = existing.created_at < now - RETENTION
    abandoned = existing.completed_at is None and existing.created_at < now - ABANDONED_AFTER
    if expired or abandoned:
        existing.request_hash, existing.created_at = request_hash, now
        existing.status_code = existing.response_body = existing.completed_at = None
        return existing.id
    if existing.request_hash != request_hash:
        raise Invalid(
            "this Idempotency-Key was used with a different request body",
            field="Idempotency-Key",
            code=ErrorCode.idempotency_key_reused,
        )
    if existing.completed_at is None:
        raise _in_progress()
    return Replay(existing.status_code or 200, existing.response_body or b"")


def _in_progress() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is still in progress",
        field="Idempotency-Key",
        code=ErrorCode.idempotency_in_progress,
    )


def complete(session: Session, claim_id: uuid.UUID, status_code: int, body: bytes) -> None:
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(status_code=status_code, response_body=body, completed_at=utcnow())
    )


def release(database: Database, workspace_id: uuid.UUID, claim_id: uuid.UUID) -> None:
    with database.transaction(workspace_id) as session:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - RETENTION))
    return result.rowcount or 0


def forget_answers_starting(session: Session, prefix: bytes) -> int:
    """Delete the workspace's stored answers that begin with ``prefix``: an erased user's
    profile must not wait out the retention inside a replayable answer. Their keys are free
    again (a retried request is simply done again)."""
    head = func.substr(IdempotencyKey.response_body, 1, len(prefix))
    mine = IdempotencyKey.workspace_id == current_workspace(session)
    result = session.execute(delete(IdempotencyKey).where(mine, head == prefix))
    return result.rowcount or 0
