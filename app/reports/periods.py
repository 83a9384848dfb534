"""Report periods in the workspace zone: local days, hours or weeks turned into UTC bucket
edges (through app.kit.timezones only), each bucket labelled with its local start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from app.kit.errors import Invalid
from app.kit.timezones import local_to_utc, monday_of, utc_to_local
from app.models.base import utcnow

Interval = Literal["hour", "day", "week"]
MAX_BUCKETS = 2000
_MIDNIGHT = time(0)


@dataclass(frozen=True)
class Period:
    """Buckets [edges[i], edges[i + 1]); ``labels[i]`` is bucket i's local start."""

    edges: list[datetime]
    labels: list[str]

    @property
    def start(self) -> datetime:
        return self.edges[0]

    @property
    def end(self) -> datetime:
        return self.edges[-1]


def period(first: date, last: date, interval: Interval, zone: str) -> Period:
    """The local days ``first`` to ``last`` (inclusive) cut into ``interval`` buckets; weeks
    start on the Monday on or before ``first``."""
    if last < first:
        raise Invalid("end is before start", field="end")
    if interval == "week":
        first = monday_of(first)
    days = (last - first).days + 1
    if interval == "hour":
        start, end = (
            local_to_utc(first, _MIDNIGHT, zone),
            local_to_utc(last + timedelta(days=1), _MIDNIGHT, zone),
        )
        # Whole UTC hours from the local midnight: DST days get 23 or 25 of them.
        count = int((end - start).total_seconds() // 3600)
        edges = [start + timedelta(hours=i) for i in range(count + 1)]
    else:
        step = 7 if interval == "week" else 1
        local_days = [first + timedelta(days=i) for i in range(0, days + step, step)]
        edges = [local_to_utc(d, _MIDNIGHT, zone) for d in local_days]
    if len(edges) - 1 > MAX_BUCKETS:
        raise Invalid(f"at most {MAX_BUCKETS} buckets; shorten the range", field="start")
    labels = [utc_to_local(e, zone).isoformat() for e in edges[:-1]]
    return Period(edges, labels)


def today(now: datetime, zone: str) -> date:
    return utc_to_local(now, zone).date()


def default_days(first: date | None, last: date | None, zone: str, days: int) -> tuple[date, date]:
    """The local days asked for; by default the ``days`` ending today."""
    end = last or today(utcnow(), zone)
    return (first or end - timedelta(days=days - 1), end)
