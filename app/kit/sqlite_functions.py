"""SQL functions Postgres has (or gets from a migration) and SQLite lacks, registered on every
SQLite connection so one compiled statement runs on both databases."""

from __future__ import annotations

import math
import uuid
from typing import Any

from app.delivery.rules import share_unit
from app.kit.ids import uuid7
from app.kit.instants import sqlite_instant


def register(dbapi_conn: Any) -> None:
    dbapi_conn.create_function("nudge_instant", 1, sqlite_instant, deterministic=True)
    dbapi_conn.create_function("nudge_share_unit", 2, _share_unit, deterministic=True)
    # Time-ordered like the Postgres function: retention and conversion marks compare ids to instants.
    dbapi_conn.create_function("nudge_uuid7", 0, _uuid7_hex)
    # Not every SQLite build has the math functions; Python's are the same libm calls.
    dbapi_conn.create_function("sin", 1, _null_safe(math.sin), deterministic=True)
    dbapi_conn.create_function("cos", 1, _null_safe(math.cos), deterministic=True)


def _share_unit(campaign: str, member: str) -> float:
    return share_unit(uuid.UUID(campaign), uuid.UUID(member))


def _uuid7_hex() -> str:
    return uuid7().hex


def _null_safe(fn: Any) -> Any:
    def call(value: float | None) -> float | None:
        return None if value is None else fn(value)

    return call
