"""Which sends a schedule makes: one for one-off schedules, one per date for recurring ones."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from app.campaigns.schemas import AtInstant, Immediate, LocalTime, Optimal, Recurring, Schedule, Triggered
from app.campaigns.timing import Timing, earliest_moment, planning_horizon

ONCE = "once"
# A recurring occurrence's send is created this long before its first zone is due.
LOOKAHEAD = timedelta(minutes=10)
_schedule_adapter: TypeAdapter[Schedule] = TypeAdapter(Schedule)


@dataclass(frozen=True)
class Occurrence:
    key: str
    timing: Timing


def parse_schedule(doc: dict[str, Any]) -> Schedule:
    return _schedule_adapter.validate_python(doc)


def _grace(schedule: LocalTime | Optimal | Recurring) -> timedelta:
    return timedelta(minutes=schedule.grace_minutes)


def one_off(schedule: Schedule, launched_at: datetime) -> Occurrence | None:
    """The single send of a one-off schedule; None for recurring and triggered schedules."""
    match schedule:
        case Immediate():
            return Occurrence(ONCE, Timing("utc", at=launched_at))
        case AtInstant(at=at):
            return Occurrence(ONCE, Timing("utc", at=at.astimezone(UTC)))
        case LocalTime():
            timing = Timing(
                "local",
                day=schedule.date,
                wall=schedule.time,
                past_zones=schedule.past_zones,
                grace=_grace(schedule),
            )
            return Occurrence(ONCE, timing)
        case Optimal():
            timing = Timing(
                "optimal",
                day=schedule.date,
                wall=schedule.fallback_time,
                past_zones=schedule.past_zones,
                grace=_grace(schedule),
                engagement_events=tuple(schedule.engagement_events),
            )
            return Occurrence(ONCE, timing)
        case Recurring() | Triggered():
            return None
    raise AssertionError(schedule)


def _matches(rule: Recurring, day: date) -> bool:
    if rule.frequency == "daily":
        return True
    if rule.frequency == "weekly":
        return day.weekday() in rule.weekdays
    assert rule.day_of_month is not None
    last = calendar.monthrange(day.year, day.month)[1]
    return day.day == min(rule.day_of_month, last)


def _dates(rule: Recurring, start: date) -> Iterator[date]:
    day = max(start, rule.start_date)
    while rule.end_date is None or day <= rule.end_date:
        if _matches(rule, day):
            yield day
        day += timedelta(days=1)


def recurring_timing(rule: Recurring, day: date) -> Timing:
    if rule.local:
        return Timing("local", day=day, wall=rule.time, past_zones=rule.past_zones, grace=_grace(rule))
    return Timing("utc", at=datetime.combine(day, rule.time, UTC))


def next_recurring(rule: Recurring, *, after: date | None, launched_at: datetime) -> Occurrence | None:
    """The occurrence after the date ``after`` (the last one created), or the first one not
    entirely past at launch; None when the rule has ended."""
    start = after + timedelta(days=1) if after else launched_at.date() - timedelta(days=1)
    for day in _dates(rule, start):
        timing = recurring_timing(rule, day)
        if after is not None or planning_horizon(timing) >= launched_at:
            return Occurrence(day.isoformat(), timing)
    return None


def creation_time(occurrence: Occurrence) -> datetime:
    """When the planner creates a recurring occurrence's send."""
    return earliest_moment(occurrence.timing) - LOOKAHEAD
