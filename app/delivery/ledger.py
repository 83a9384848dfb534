"""The delivery ledger's hot statements: claim a chunk, write outcomes in bulk, reclaim leases.

Core statements on the table (no ORM objects: a chunk is a thousand rows), each filtering on
``workspace_id`` itself. An outcome is written only while the row is still ``sending`` under
the claimer's own lease, so a worker that lost its lease cannot overwrite the row's next life.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, exists, literal, select, text, update
from sqlalchemy.orm import Session

from app.models import Delivery, DeliveryStatus, Send, SendStatus, User

D = Delivery.__table__
U = User.__table__
UNFINISHED = (DeliveryStatus.queued, DeliveryStatus.sending)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    user_id: uuid.UUID
    due_at: datetime
    expires_at: datetime | None
    attempts: int


def claim(
    session: Session,
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
) -> list[Claimed]:
    """Move up to ``limit`` due queued rows to ``sending`` under a lease, lowest ids first.

    ``ORDER BY id`` over the partial index of queued rows keeps this an index range scan;
    ``SKIP LOCKED`` lets parallel lanes take disjoint chunks without waiting.
    """
    picked = (
        select(D.c.id)
        .where(
            D.c.workspace_id == workspace_id,
            D.c.send_id == send_id,
            D.c.status == DeliveryStatus.queued,
            D.c.due_at <= now,
        )
        .order_by(D.c.id)
        .limit(limit)
    )
    if _is_postgres(session):
        picked = picked.with_for_update(skip_locked=True)
    picked_cte = picked.cte("picked")
    stmt = (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.id == picked_cte.c.id)
        .values(status=DeliveryStatus.sending, lease_until=lease_until, attempts=D.c.attempts + 1)
        .returning(D.c.id, D.c.user_id, D.c.due_at, D.c.expires_at, D.c.attempts)
    )
    rows = session.connection().execute(stmt).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


USER_FIELDS = (
    "external_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "country",
    "first_name",
    "last_name",
    "attributes",
    "email_status",
    "push_status",
    "in_app_status",
)


def users(
    session: Session, workspace_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row[Any]]:
    columns = [U.c.id, *(U.c[name] for name in USER_FIELDS)]
    stmt = select(*columns).where(U.c.workspace_id == workspace_id, U.c.id.in_(user_ids))
    return {row.id: row for row in session.connection().execute(stmt)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A row's next state: final (sent, failed, suppressed, expired, cancelled) or back to
    ``queued`` at ``due_at`` (deferred, throttled, retried)."""

    id: uuid.UUID
    status: str
    variant: str | None = None
    provider_id: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    due_at: datetime | None = None
    # Requeued rows give back the attempt their claim counted unless a provider was tried.
    refund_attempt: bool = False


def write(
    session: Session, workspace_id: uuid.UUID, lease_until: datetime, outcomes: Sequence[Outcome]
) -> int:
    """Write many rows' outcomes in one statement; returns how many still held our lease."""
    if not outcomes:
        return 0
    if _is_postgres(session):
        return _write_postgres(session, workspace_id, lease_until, outcomes)
    stmt = (
        update(D)
        .where(
            D.c.workspace_id == bindparam("w"),
            D.c.id == bindparam("d"),
            D.c.status == DeliveryStatus.sending,
            D.c.lease_until == bindparam("lease"),
        )
        .values(
            status=bindparam("s"),
            variant=bindparam("v"),
            provider_id=bindparam("p"),
            error=bindparam("e"),
            sent_at=bindparam("t"),
            due_at=case((bindparam("q", type_=D.c.due_at.type).is_(None), D.c.due_at), else_=bindparam("q")),
            attempts=D.c.attempts - bindparam("r"),
            lease_until=None,
        )
    )
    params = [
        {
            "w": workspace_id,
            "d": o.id,
            "lease": lease_until,
            "s": o.status,
            "v": o.variant,
            "p": o.provider_id,
            "e": o.error,
            "t": o.sent_at,
            "q": o.due_at,
            "r": int(o.refund_attempt),
        }
        for o in outcomes
    ]
    return session.connection().execute(stmt, params).rowcount or 0


_WRITE_POSTGRES = text(
    """
    UPDATE deliveries AS d SET
        status = v.status, variant = v.variant, provider_id = v.provider_id, error = v.error,
        sent_at = v.sent_at, due_at = coalesce(v.due_at, d.due_at),
        attempts = d.attempts - v.refund, lease_until = NULL
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:variants AS text[]),
        CAST(:providers AS text[]), CAST(:errors AS text[]), CAST(:sent AS timestamptz[]),
        CAST(:due AS timestamptz[]), CAST(:refunds AS int[])
    ) AS v(id, status, variant, provider_id, error, sent_at, due_at, refund)
    WHERE d.workspace_id = :workspace_id AND d.id = v.id
      AND d.status = 'sending' AND d.lease_until = :lease
    """
)


def _write_postgres(
    session: Session, workspace_id: uuid.UUID, lease_until: datetime, outcomes: Sequence[Outcome]
) -> int:
    params = {
        "workspace_id": workspace_id,
        "lease": lease_until,
        "ids": [o.id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "variants": [o.variant for o in outcomes],
        "providers": [o.provider_id for o in outcomes],
        "errors": [o.error for o in outcomes],
        "sent": [o.sent_at for o in outcomes],
        "due": [o.due_at for o in outcomes],
        "refunds": [int(o.refund_attempt) for o in outcomes],
    }
    return session.connection().execute(_WRITE_POSTGRES, params).rowcount or 0


def reclaim_expired(session: Session, workspace_id: uuid.UUID, *, now: datetime, max_attempts: int) -> int:
    """Rows whose claimer vanished (killed worker, lost connection) go back to ``queued`` with
    the same id, so the next send carries the same idempotency id; after ``max_attempts``
    claims they fail; rows of cancelled sends are cancelled."""
    send_status = (
        select(Send.status).where(Send.workspace_id == workspace_id, Send.id == D.c.send_id).scalar_subquery()
    )
    stmt = (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.status == DeliveryStatus.sending, D.c.lease_until < now)
        .values(
            status=case(
                (send_status == SendStatus.cancelled, literal(DeliveryStatus.cancelled.value)),
                (D.c.attempts >= max_attempts, literal(DeliveryStatus.failed.value)),
                else_=literal(DeliveryStatus.queued.value),
            ),
            error=case(
                (D.c.attempts >= max_attempts, literal(f"lease expired {max_attempts} times")),
                else_=D.c.error,
            ),
            lease_until=None,
        )
    )
    return session.connection().execute(stmt).rowcount or 0


def has_unfinished(session: Session, send_id: uuid.UUID) -> bool:
    return bool(
        session.scalar(select(exists().where(Delivery.send_id == send_id, Delivery.status.in_(UNFINISHED))))
    )


def cancel_queued(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
    sends = select(Send.id).where(Send.workspace_id == workspace_id, Send.campaign_id == campaign_id)
    stmt = (
        update(D)
        .where(
            and_(
                D.c.workspace_id == workspace_id, D.c.send_id.in_(sends), D.c.status == DeliveryStatus.queued
            )
        )
        .values(status=DeliveryStatus.cancelled)
    )
    return session.connection().execute(stmt).rowcount or 0
