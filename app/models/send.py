from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped


class SendStatus(StrEnum):
    planning = "planning"  # some zones are still to be snapshotted
    dispatching = "dispatching"  # every row is in the ledger; some may be queued or sending
    done = "done"
    cancelled = "cancelled"


class Send(TenantScoped, Base):
    """One planned execution of a campaign: its timing and, once planned, its frozen audience
    in the delivery ledger. ``occurrence`` names it within the campaign ('once', a recurring
    date, 'trigger:<date>'), unique so a double launch or two planners create it once."""

    __tablename__ = "sends"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "campaign_id"], ["campaigns.workspace_id", "campaigns.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_sends_workspace_id_campaign_id_occurrence",
            "workspace_id",
            "campaign_id",
            "occurrence",
            unique=True,
        ),
        Index("ix_sends_workspace_id_status_next_plan_at", "workspace_id", "status", "next_plan_at"),
        CheckConstraint("status IN ('planning', 'dispatching', 'done', 'cancelled')", name="status"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    occurrence: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.planning)
    # The timing to plan: {"mode": "utc" | "local" | "optimal" | "trigger", ...} (app.campaigns.timing).
    timing: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    # Reference instant for zones already past: the launch, or when the occurrence was created.
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_plan_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    planned_zones: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    planned_count: Mapped[int] = mapped_column(Integer, default=0)
    # Last time dispatch lanes were started or continued; the planner restarts stalled ones.
    dispatch_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # A roll-out send's choice, made when its first zone is planned: the winning variant and
    # why (metric, rates, significance). Every later zone sends the same variant.
    decision: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc, default=None)
