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


def scalar_within(
    session: Session, statement: Executable, timeout_ms: int, *, work_mem: str | None = None
) -> tuple[Any, bool]:
    """(value, False), or (None, True) when the statement ran out of time. ``work_mem``
    (Postgres) gives this one statement more memory for hashing and sorting."""
    if session.get_bind().dialect.name == "postgresql":
        settings = {"statement_timeout": f"{int(timeout_ms)}ms"}
        if work_mem:
            settings["work_mem"] = work_mem
        return _postgres(session, statement, settings)
    return _sqlite(session, statement, timeout_ms)


def _postgres(session: Session, statement: Executable, settings: dict[str, str]) -> tuple[Any, bool]:
    try:
        with session.begin_nested():
            previous = {name: _set(session, name, value) for name, value in settings.items()}
            value = session.scalar(statement)
            for name, old in previous.items():
                _set(session, name, old)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _QUERY_CANCELED:
            raise
        return None, True
    return value, False


def _set(session: Session, name: str, value: str) -> str:
    """Set a setting for the rest of the transaction; returns the value it had."""
    previous = session.scalar(text("SELECT current_setting(:name)"), {"name": name})
    session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    return str(previous)


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
