from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Float, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class CampaignStatus(StrEnum):
    draft = "draft"
    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    completed = "completed"
    cancelled = "cancelled"


_STATUSES = "('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled')"


class Campaign(TenantScoped, Timestamps, Base):
    """A message to an audience on a schedule. ``audience``, ``variants``, ``schedule`` and
    ``limits`` are JSON documents validated by app.campaigns.schemas; they freeze at launch."""

    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_workspace_id_status", "workspace_id", "status"),
        CheckConstraint(f"status IN {_STATUSES}", name="status"),
        CheckConstraint("control_percent >= 0 AND control_percent < 100", name="control_percent"),
    )

    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.draft)
    audience: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc)
    control_percent: Mapped[float] = mapped_column(Float, default=0.0)
    schedule: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    limits: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    goal: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    # Goal events with ids up to this one are attributed (app.reports.conversions).
    conversions_through: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # Test share first, then the winner to the rest (app.campaigns.schemas.Rollout).
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
    # Bumped by every content change so workers know their compiled templates are stale.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Recurring campaigns: when the planner creates the next occurrence's send.
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
