"""Server-side SVG geometry: column charts (the schedule wave, reports per day or hour) and
the horizontal bars of a funnel. Templates draw the shapes; the numbers also appear in a
table for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH = 720
HEIGHT = 180
AXIS = 28  # room for labels under the bars
GAP = 4
MAX_BAR = 56  # a few columns stay slim bars, not blocks
FUNNEL_LABEL = 110  # room for the stage names left of the funnel's bars
FUNNEL_ROW = 34


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


def columns(points: Sequence[tuple[str, int]]) -> list[Bar]:
    """One column per ``(label, value)``, scaled to the largest value."""
    if not points:
        return []
    peak = max(value for _, value in points) or 1
    width = min(max(WIDTH / len(points) - GAP, 2.0), MAX_BAR)
    bars: list[Bar] = []
    for index, (label, value) in enumerate(points):
        height = (HEIGHT - AXIS - 8) * value / peak
        bars.append(
            Bar(
                x=index * (width + GAP),
                y=HEIGHT - AXIS - height,
                width=width,
                height=height,
                label=label,
                value=value,
            )
        )
    return bars


def wave_bars(hours: list[dict[str, Any]]) -> list[Bar]:
    """``hours`` as the schedule preview gives them: ``[{"hour": datetime, "users": n}]``;
    labelled HH:MM UTC, with the date when it changes."""
    points: list[tuple[str, int]] = []
    previous_day = None
    for entry in hours:
        hour: datetime = entry["hour"]
        day = hour.date()
        points.append(
            (
                hour.strftime("%H:%M") if day == previous_day else hour.strftime("%b %d %H:%M"),
                int(entry["users"]),
            )
        )
        previous_day = day
    return columns(points)


def sparse_labels(bars: list[Bar], most: int = 12) -> list[Bar]:
    """The bars whose label is drawn: every n-th, so at most ``most`` labels fit the axis."""
    step = max(1, -(-len(bars) // most))
    return bars[::step]


def funnel(stages: Sequence[tuple[str, int]]) -> list[Bar]:
    """Horizontal bars, one row a stage, each as wide as its share of the first stage."""
    top = max((value for _, value in stages), default=0) or 1
    room = WIDTH - FUNNEL_LABEL - 60  # and room for the figure right of the bar
    return [
        Bar(
            x=FUNNEL_LABEL,
            y=index * FUNNEL_ROW,
            width=max(room * value / top, 1.0),
            height=FUNNEL_ROW - 10,
            label=label,
            value=value,
        )
        for index, (label, value) in enumerate(stages)
    ]
