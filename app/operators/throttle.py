"""Rate limits on the account pages, counted in fixed windows in the database so every API
process shares them: failed sign-ins per (email, address) and per address, and password-reset
requests per email and per address (each one sends an email). A failed sign-in is counted in
a transaction of its own, because its request's transaction is rolled back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from app.kit import sql
from app.models import LoginThrottle
from app.models.base import utcnow
from app.operators.tokens import digest

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Limit:
    kind: str
    failures: int


PER_ACCOUNT = Limit("account", 5)  # failed sign-ins per email from one address
PER_ADDRESS = Limit("address", 50)  # failed sign-ins per address, whatever the email
RESETS_PER_EMAIL = Limit("reset", 3)  # reset emails to one address, whoever asks
RESETS_PER_ADDRESS = Limit("reset-address", 20)  # reset requests from one address


def keys(email: str, address: str) -> list[tuple[str, Limit]]:
    return [
        (digest(f"{PER_ACCOUNT.kind}|{email}|{address}"), PER_ACCOUNT),
        (digest(f"{PER_ADDRESS.kind}|{address}"), PER_ADDRESS),
    ]


def reset_keys(email: str, address: str) -> list[tuple[str, Limit]]:
    return [
        (digest(f"{RESETS_PER_EMAIL.kind}|{email}"), RESETS_PER_EMAIL),
        (digest(f"{RESETS_PER_ADDRESS.kind}|{address}"), RESETS_PER_ADDRESS),
    ]


def retry_after(
    session: Session, limits: Sequence[tuple[str, Limit]], now: datetime | None = None
) -> int | None:
    """Seconds to wait if any limit is reached, else None."""
    now = now or utcnow()
    rows = {
        row.key: row
        for row in session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_([k for k, _ in limits])))
    }
    waits = [
        (row.window_started_at + WINDOW - now).total_seconds()
        for key, limit in limits
        if (row := rows.get(key)) is not None and row.failures >= limit.failures
    ]
    waits = [w for w in waits if w > 0]
    return int(max(waits)) + 1 if waits else None


def record(session: Session, limits: Sequence[tuple[str, Limit]], now: datetime | None = None) -> None:
    now = now or utcnow()
    stmt = sql.insert(session, LoginThrottle)
    expired = LoginThrottle.window_started_at <= now - WINDOW

    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
                "window_started_at": case((expired, now), else_=LoginThrottle.window_started_at),
            },
        ),
        [{"key": key, "failures": 1, "window_started_at": now} for key, _ in limits],
    )


def clear(session: Session, limits: Sequence[tuple[str, Limit]]) -> None:
    """A successful sign-in forgives that account's failures (not the address's)."""
    account_keys = [key for key, limit in limits if limit is PER_ACCOUNT]
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(account_keys)))


def purge_expired(session: Session, now: datetime) -> int:
    """Delete counts whose window has passed: they no longer limit anyone."""
    result = session.execute(delete(LoginThrottle).where(LoginThrottle.window_started_at <= now - WINDOW))
    return result.rowcount or 0
