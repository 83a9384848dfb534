"""When each zone's users receive a send. Pure functions over a send's timing, shared by the
planner and the schedule preview so the preview shows exactly what the planner will do.

All wall-time arithmetic goes through app.kit.timezones.local_to_utc.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from app.kit.timezones import local_to_utc, utc_to_local

Mode = Literal["utc", "local", "optimal", "trigger"]
# Zones with the earliest and the latest wall clocks on Earth (UTC+14, UTC-12).
EARLIEST_ZONE = "Etc/GMT-14"
LATEST_ZONE = "Etc/GMT+12"
MIDNIGHT = time(0, 0)


@dataclass(frozen=True)
class Timing:
    """A send's timing: a UTC instant, a wall time per zone, each user's best hour, or (for
    triggered campaigns) per-delivery times set when users act."""

    mode: Mode
    at: datetime | None = None  # utc
    day: date | None = None  # local, optimal
    wall: time | None = None  # local: the send time; optimal: the fallback time
    past_zones: str = "next_day"
    grace: timedelta = timedelta(hours=1)
    engagement_events: tuple[str, ...] = field(default=())
    # A roll-out send: each zone's moment this long after its test wave's.
    offset: timedelta = timedelta(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "at": self.at.isoformat() if self.at else None,
            "day": self.day.isoformat() if self.day else None,
            "wall": self.wall.isoformat() if self.wall else None,
            "past_zones": self.past_zones,
            "grace_s": int(self.grace.total_seconds()),
            "engagement_events": list(self.engagement_events),
            "offset_s": int(self.offset.total_seconds()),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Timing:
        return cls(
            mode=doc["mode"],
            at=datetime.fromisoformat(doc["at"]) if doc.get("at") else None,
            day=date.fromisoformat(doc["day"]) if doc.get("day") else None,
            wall=time.fromisoformat(doc["wall"]) if doc.get("wall") else None,
            past_zones=doc.get("past_zones", "next_day"),
            grace=timedelta(seconds=doc.get("grace_s", 3600)),
            engagement_events=tuple(doc.get("engagement_events", ())),
            offset=timedelta(seconds=doc.get("offset_s", 0)),
        )

    @property
    def per_zone(self) -> bool:
        return self.mode in ("local", "optimal")


def resolve_past(
    planned: datetime, starts_at: datetime, timing: Timing, next_day: Callable[[], datetime]
) -> datetime | None:
    """Apply the past-zone policy to a moment that may precede the send's start (the launch)."""
    if planned >= starts_at:
        return planned
    if timing.past_zones == "next_day":
        return next_day()
    if timing.past_zones == "send_if_within" and starts_at - planned <= timing.grace:
        return starts_at
    return None


def _wall_instant(timing: Timing, wall: time, zone: str, starts_at: datetime) -> datetime | None:
    assert timing.day is not None
    day = timing.day
    return resolve_past(
        local_to_utc(day, wall, zone),
        starts_at,
        timing,
        lambda: local_to_utc(day + timedelta(days=1), wall, zone),
    )


def zone_instant(timing: Timing, zone: str, starts_at: datetime) -> datetime | None:
    """When users in ``zone`` receive a utc or local send; None when the zone is skipped."""
    if timing.mode == "utc":
        assert timing.at is not None
        return max(timing.at, starts_at) + timing.offset
    if timing.mode == "local":
        assert timing.wall is not None
        instant = _wall_instant(timing, timing.wall, zone, starts_at)
        return None if instant is None else instant + timing.offset
    raise ValueError(f"{timing.mode} sends have no single instant per zone")


def zone_moment(timing: Timing, zone: str, starts_at: datetime) -> datetime | None:
    """When the planner snapshots a zone: its send instant, or for optimal sends the start of
    the zone's day (each user then gets an instant of their own)."""
    if timing.mode == "optimal":
        assert timing.day is not None
        return local_to_utc(timing.day, MIDNIGHT, zone)
    return zone_instant(timing, zone, starts_at)


def optimal_instants(
    timing: Timing, zone: str, starts_at: datetime
) -> tuple[dict[int, datetime | None], datetime | None]:
    """Optimal sends: for each UTC hour a user usually engages at, the instant they receive it
    in ``zone`` (at the start of that local hour on the send's day), and the fallback instant.

    Habits are measured in UTC hours; each maps to the local hour it falls in on the send's
    day, so a user who engages at 18:xx local gets 18:00 local on that day.
    """
    assert timing.day is not None and timing.wall is not None
    noon = datetime.combine(timing.day, time(12), UTC)
    by_hour: dict[int, datetime | None] = {}
    for hour in range(24):
        local_hour = utc_to_local(noon.replace(hour=hour), zone).hour
        by_hour[hour] = _wall_instant(timing, time(local_hour), zone, starts_at)
    return by_hour, _wall_instant(timing, timing.wall, zone, starts_at)


def planning_horizon(timing: Timing, starts_at: datetime | None = None) -> datetime:
    """After this instant no zone can still be waiting, so planning is complete. A send that
    starts before its first zone is due has no zone past at start, so none moves a day."""
    if timing.mode == "utc":
        assert timing.at is not None
        return timing.at + timing.offset
    assert timing.day is not None
    if timing.mode == "optimal":
        return local_to_utc(timing.day, MIDNIGHT, LATEST_ZONE)
    assert timing.wall is not None
    front = earliest_moment(timing) - timing.offset
    shifted = timing.past_zones == "next_day" and (starts_at is None or starts_at > front)
    last = local_to_utc(timing.day + timedelta(days=int(shifted)), timing.wall, LATEST_ZONE)
    return last + timing.offset


def earliest_moment(timing: Timing) -> datetime:
    """The first instant any zone of this send can be due (the wave's front)."""
    if timing.mode == "utc":
        assert timing.at is not None
        return timing.at + timing.offset
    assert timing.day is not None
    wall = MIDNIGHT if timing.mode == "optimal" else timing.wall or MIDNIGHT
    return local_to_utc(timing.day, wall, EARLIEST_ZONE) + timing.offset


def hour_of(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)
