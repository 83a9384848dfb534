"""Signed-in browsers. The cookie holds a random token; the table holds its hash."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import Operator, OperatorSession
from app.models.base import utcnow
from app.operators.tokens import digest, new_token

LIFETIME = timedelta(days=14)
TOUCH_EVERY = timedelta(minutes=5)  # last_seen_at is a hint: do not write on every page


def open_session(session: Session, operator_id: uuid.UUID) -> str:
    """A new session for the operator; returns the cookie value (never stored)."""
    token = new_token()
    now = utcnow()
    session.add(
        OperatorSession(
            token_hash=digest(token), operator_id=operator_id, last_seen_at=now, expires_at=now + LIFETIME
        )
    )
    session.flush()
    return token


def find(session: Session, token: str) -> tuple[OperatorSession, Operator] | None:
    row = session.execute(
        select(OperatorSession, Operator)
        .join(Operator, Operator.id == OperatorSession.operator_id)
        .where(OperatorSession.token_hash == digest(token))
    ).first()
    if row is None:
        return None
    signed_in, operator = row
    now = utcnow()
    if signed_in.expires_at <= now:
        return None
    if now - signed_in.last_seen_at > TOUCH_EVERY:
        signed_in.last_seen_at = now
    return signed_in, operator


def remember_workspace(signed_in: OperatorSession, workspace_id: uuid.UUID) -> None:
    if signed_in.last_workspace_id != workspace_id:
        signed_in.last_workspace_id = workspace_id


def close(session: Session, token: str) -> None:
    session.execute(delete(OperatorSession).where(OperatorSession.token_hash == digest(token)))


def purge_expired(session: Session, now: datetime) -> int:
    """Delete sessions past their expiry (a cookie holding one signs nobody in already)."""
    result = session.execute(delete(OperatorSession).where(OperatorSession.expires_at < now))
    return result.rowcount or 0
