"""Per-row decisions that need no database: variant assignment, quiet hours."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from typing import Any

from app.kit.timezones import next_local_time, utc_to_local

CONTROL = "control"
_SPACE = float(2**64)


def _unit(campaign_id: uuid.UUID, user_id: uuid.UUID) -> float:
    """A number in [0, 1) fixed for (campaign, user): re-runs and retries agree."""
    digest = hashlib.blake2b(campaign_id.bytes + user_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SPACE


class VariantPicker:
    """``control`` for the control share, else a variant key chosen in proportion to weights
    (the edges are summed once, not per user)."""

    def __init__(self, variants: Sequence[Mapping[str, Any]], control_percent: float) -> None:
        self.control_percent = control_percent
        total = sum(int(v["weight"]) for v in variants)
        self.edges: list[tuple[float, str]] = []
        edge = 0.0
        for variant in variants:
            edge += int(variant["weight"]) / total
            self.edges.append((edge, str(variant["key"])))

    def pick(self, campaign_id: uuid.UUID, user_id: uuid.UUID) -> str:
        point = _unit(campaign_id, user_id) * 100
        if point < self.control_percent:
            return CONTROL
        share = (point - self.control_percent) / (100 - self.control_percent)
        for edge, key in self.edges:
            if share < edge:
                return key
        return self.edges[-1][1]


def assign_variant(
    campaign_id: uuid.UUID, user_id: uuid.UUID, variants: Sequence[Mapping[str, Any]], control_percent: float
) -> str:
    return VariantPicker(variants, control_percent).pick(campaign_id, user_id)


def share_unit(campaign_id: uuid.UUID, user_id: uuid.UUID) -> float:
    """A second number in [0, 1) fixed for (campaign, user), independent of ``_unit``: a
    roll-out's test share (``share_unit < test_percent / 100``) holds every variant and the
    control group in their proportions. The planner computes it in SQL as
    ``nudge_share_unit`` (md5 there too), so the split happens inside the snapshot."""
    digest = hashlib.md5(campaign_id.hex.encode() + user_id.hex.encode(), usedforsecurity=False)
    return int(digest.hexdigest()[:13], 16) / 16**13


class QuietHours:
    """A daily local window such as 22:00-08:00, evaluated in each user's zone."""

    def __init__(self, start: time, end: time) -> None:
        self.start = start
        self.end = end
        self._ends: dict[str, datetime | None] = {}

    def _contains(self, wall: time) -> bool:
        if self.start <= self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def window_end(self, now: datetime, zone: str) -> datetime | None:
        """When the window ends for a user in ``zone``; None when not inside it now."""
        if zone not in self._ends:
            inside = self._contains(utc_to_local(now, zone).time())
            self._ends[zone] = next_local_time(now, self.end, zone) if inside else None
        return self._ends[zone]
