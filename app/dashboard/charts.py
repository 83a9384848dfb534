"""Server-side SVG geometry for the schedule wave: one bar per UTC hour with users in it.
Templates draw the shapes; the numbers also appear in a table for screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH = 720
HEIGHT = 180
AXIS = 28  # room for hour labels under the bars
GAP = 4
MAX_BAR = 56  # a few hours stay slim bars, not blocks


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # hour, as HH:MM UTC (with the date when it changes)
    users: int


def wave_bars(hours: list[dict[str, Any]]) -> list[Bar]:
    """``hours`` as the schedule preview gives them: ``[{"hour": datetime, "users": n}]``."""
    if not hours:
        return []
    peak = max(int(h["users"]) for h in hours) or 1
    width = min(max(WIDTH / len(hours) - GAP, 2.0), MAX_BAR)
    bars: list[Bar] = []
    previous_day = None
    for index, entry in enumerate(hours):
        hour: datetime = entry["hour"]
        users = int(entry["users"])
        height = (HEIGHT - AXIS - 8) * users / peak
        day = hour.date()
        label = hour.strftime("%H:%M") if day == previous_day else hour.strftime("%b %d %H:%M")
        previous_day = day
        bars.append(
            Bar(
                x=index * (width + GAP),
                y=HEIGHT - AXIS - height,
                width=width,
                height=height,
                label=label,
                users=users,
            )
        )
    return bars
