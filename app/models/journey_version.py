from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped


class JourneyVersion(TenantScoped, Base):
    """One frozen graph of a journey (app.journeys.schemas.Definition). A draft edits version 1
    in place; editing a launched journey adds the next version. ``campaigns`` maps each send
    step to the hidden campaign its deliveries are dispatched under."""

    __tablename__ = "journey_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "journey_id"], ["journeys.workspace_id", "journeys.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_journey_versions_workspace_id_journey_id_version",
            "workspace_id",
            "journey_id",
            "version",
            unique=True,
        ),
    )

    journey_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    campaigns: Mapped[dict[str, str]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
