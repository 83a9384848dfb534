"""SQL functions Postgres has (or gets from a migration) and SQLite lacks, registered on every
SQLite connection so one compiled statement runs on both databases."""

from __future__ import annotations

import math
from typing import Any

from app.kit.instants import sqlite_instant


def register(dbapi_conn: Any) -> None:
    dbapi_conn.create_function("nudge_instant", 1, sqlite_instant, deterministic=True)
    # Not every SQLite build has the math functions; Python's are the same libm calls.
    dbapi_conn.create_function("sin", 1, _null_safe(math.sin), deterministic=True)
    dbapi_conn.create_function("cos", 1, _null_safe(math.cos), deterministic=True)


def _null_safe(fn: Any) -> Any:
    def call(value: float | None) -> float | None:
        return None if value is None else fn(value)

    return call
