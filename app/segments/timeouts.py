"""Run one query under a time limit and say whether it hit it.

Postgres: ``statement_timeout`` set inside a savepoint, so a cancelled query rolls back to the
savepoint and the request's transaction stays usable. SQLite: a progress handler that
interrupts the statement once the deadline has passed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Executable, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

_QUERY_CANCELED = "57014"


def scalar_within(session: Session, statement: Executable, timeout_ms: int) -> tuple[Any, bool]:
    """(value, False), or (None, True) when the statement ran out of time."""
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(session, statement, timeout_ms)
    return _sqlite(session, statement, timeout_ms)


def _postgres(session: Session, statement: Executable, timeout_ms: int) -> tuple[Any, bool]:
    try:
        with session.begin_nested():
            previous = session.scalar(text("SELECT current_setting('statement_timeout')"))
            _set_timeout(session, f"{int(timeout_ms)}ms")
            value = session.scalar(statement)
            _set_timeout(session, str(previous))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _QUERY_CANCELED:
            raise
        return None, True
    return value, False


def _set_timeout(session: Session, value: str) -> None:
    session.execute(text("SELECT set_config('statement_timeout', :value, true)"), {"value": value})


def _sqlite(session: Session, statement: Executable, timeout_ms: int) -> tuple[Any, bool]:
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    deadline = time.monotonic() + timeout_ms / 1000
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        return session.scalar(statement), False
    except OperationalError as exc:
        if "interrupted" not in str(exc.orig):
            raise
        return None, True
    finally:
        raw.set_progress_handler(None, 1000)
