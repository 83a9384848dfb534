from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class JourneyStatus(StrEnum):
    draft = "draft"
    live = "live"
    paused = "paused"
    archived = "archived"


class Journey(TenantScoped, Timestamps, Base):
    """A multi-step journey. Its graph lives in ``journey_versions``; ``version`` is the one new
    entrants get (users in flight stay on the version they entered)."""

    __tablename__ = "journeys"
    __table_args__ = (
        Index("ix_journeys_workspace_id_status", "workspace_id", "status"),
        CheckConstraint("status IN ('draft', 'live', 'paused', 'archived')", name="status"),
    )

    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=JourneyStatus.draft)
    version: Mapped[int] = mapped_column(Integer, default=1)
    launched_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
