"""Dialect bridges the report queries need: adding hours to an instant, and the bucket an
instant falls in given bucket edges (computed in the workspace zone by app.kit.timezones)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, DateTime, bindparam, case, cast, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.kit.types import UtcDateTime


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def plus_hours(session: Session, instant: Any, hours: int) -> Any:
    if is_postgres(session):
        return instant + func.make_interval(0, 0, 0, 0, hours)
    # SQLite keeps instants as 'YYYY-MM-DD HH:MM:SS.ffffff' text, which compares in time order.
    return func.strftime("%Y-%m-%d %H:%M:%f", instant, f"+{int(hours)} hours")


def json_contains(session: Session, document: Any, values: dict[str, Any]) -> list[Any]:
    """Conditions that the JSON ``document`` holds each key with exactly that value (typed:
    5 is not "5"; never a cast that could fail on another event's odd value)."""
    if not values:
        return []
    if is_postgres(session):
        return [document.op("@>")(cast(values, JSONB))]
    # SQLite's json_extract gives native values; booleans come back as 1 and 0.
    return [func.json_extract(document, f'$."{key}"') == value for key, value in values.items()]


def bucket_index(session: Session, instant: Any, edges: list[datetime], name: str = "edges") -> Any:
    """1-based index of the bucket [edges[i-1], edges[i]) holding ``instant``; 0 before the
    first edge, len(edges) after the last (callers filter to the range)."""
    if is_postgres(session):
        bound = bindparam(name, edges, type_=ARRAY(DateTime(timezone=True)))
        return func.width_bucket(instant, bound)
    whens = [
        (instant < bindparam(f"{name}_{i}", e, type_=UtcDateTime()), literal(i)) for i, e in enumerate(edges)
    ]
    return case(*whens, else_=literal(len(edges)))
