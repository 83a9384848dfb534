"""Time-zone names and the one place local wall times become UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_iana_zone(name: str) -> bool:
    return name in _iana_names()


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


def local_to_utc(day: date, wall: time, zone_name: str) -> datetime:
    """The UTC instant of wall time ``wall`` on ``day`` in ``zone_name``.

    DST overlap (the wall time happens twice): the first occurrence. DST gap (it never
    happens): the first valid instant after it, which is the moment the clocks jump.
    """
    tz = zone(zone_name)
    naive = datetime.combine(day, wall)
    earlier_offset = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if _wall(earlier_offset, tz) == naive:
        return earlier_offset
    # In a gap, the two readings of the wall time bracket the transition: find it exactly.
    later_offset = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = sorted((earlier_offset, later_offset))
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _wall(mid, tz) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def in_zone(instant: datetime, zone_name: str) -> datetime:
    """The aware ``instant`` in ``zone_name``: the same moment, its fields read on that zone's
    clock."""
    return instant.astimezone(zone(zone_name))


def utc_to_local(instant: datetime, zone_name: str) -> datetime:
    """The naive wall time ``instant`` shows in ``zone_name`` (the inverse of local_to_utc)."""
    return _wall(instant.astimezone(UTC), zone(zone_name))


def local_week(instant: datetime, zone_name: str) -> date:
    """The Monday of the local calendar week ``instant`` falls in, read on the zone's clock."""
    return monday_of(utc_to_local(instant, zone_name).date())


def monday_of(day: date) -> date:
    """The Monday of ``day``'s calendar week."""
    return day - timedelta(days=day.weekday())


def next_local_time(after: datetime, wall: time, zone_name: str) -> datetime:
    """The first instant at or after ``after`` when the clock in ``zone_name`` reads ``wall``
    (or, on a DST-gap day, the instant local_to_utc gives for it)."""
    day = utc_to_local(after, zone_name).date()
    for offset in range(3):
        candidate = local_to_utc(day + timedelta(days=offset), wall, zone_name)
        if candidate >= after:
            return candidate
    raise AssertionError("a wall time recurs within three days")
