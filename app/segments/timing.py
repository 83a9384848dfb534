"""Relative time, resolved once per statement from ``now`` (so SQL sees plain bounds).

Windows are instants: "the last 7 days" is now - 7 * 24 h <= t <= now, so an event exactly
7 days old is inside it and "more than 7 days ago" starts just after. Calendar days (activity,
anniversaries) are UTC days.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

from app.segments.definition import Window


def window_bounds(window: Window | None, now: datetime) -> tuple[datetime | None, datetime | None, bool]:
    """(lower, upper, upper_inclusive): lower is always inclusive; None means unbounded."""
    if window is None:
        return None, None, False
    if window.last_days is not None:
        return now - timedelta(days=window.last_days), now, True
    return window.since, window.until, False


def today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def start_of_today(now: datetime) -> datetime:
    return datetime.combine(today(now), datetime.min.time(), tzinfo=UTC)


def activity_days(of_last_days: int, now: datetime) -> tuple[date, date]:
    """The first and last UTC day of "the last D days", today included."""
    last = today(now)
    return last - timedelta(days=of_last_days - 1), last


def anniversary_month_days(days: int, now: datetime) -> list[str]:
    """The ``MM-DD`` of every day from today to today + ``days``. A 29 February date has its
    anniversary on the 28th in years without one."""
    first = today(now)
    month_days: list[str] = []
    for offset in range(days + 1):
        day = first + timedelta(days=offset)
        month_days.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            month_days.append("02-29")
    return sorted(set(month_days))
