from __future__ import annotations

from datetime import time
from typing import Any

from sqlalchemy import Integer, Time
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc
from app.models.base import Base, TenantScoped, Timestamps


class DeliveryPolicy(TenantScoped, Timestamps, Base):
    """A workspace's delivery rules; ``id`` is the workspace id (one row per workspace).

    Quiet hours are local wall times in each user's zone (start may be after end: 22:00-08:00).
    ``frequency_caps``: ``[{"channel": "push" | null (any), "limit": 2, "window_hours": 24}]``.
    ``channel_rates``: provider rates, ``{"push": per_second, ...}``.
    """

    __tablename__ = "delivery_policies"

    quiet_hours_start: Mapped[time | None] = mapped_column(Time, default=None)
    quiet_hours_end: Mapped[time | None] = mapped_column(Time, default=None)
    frequency_caps: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    rate_per_second: Mapped[int | None] = mapped_column(Integer, default=None)
    channel_rates: Mapped[dict[str, int]] = mapped_column(JsonDoc, default=dict)
