from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, Integer, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped


class StateStatus(StrEnum):
    active = "active"  # at ``step``, to be advanced at ``due_at``
    exited = "exited"  # left through an exit step, a goal, or the journey's archiving


class JourneyState(TenantScoped, Base):
    """One user's pass through a journey (one row per entry). ``seq`` counts the steps taken;
    each taken step is a ``journey_steps`` row keyed by (state, seq), so a step happens once."""

    __tablename__ = "journey_states"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "journey_id"], ["journeys.workspace_id", "journeys.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_journey_states_workspace_id_journey_id_user_id_entry",
            "workspace_id",
            "journey_id",
            "user_id",
            "entry",
            unique=True,
        ),
        # A user is in a journey at most once at a time.
        Index(
            "ix_journey_states_workspace_id_journey_id_user_id_active",
            "workspace_id",
            "journey_id",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        # The engine's claim: due active rows in due order.
        Index(
            "ix_journey_states_workspace_id_due_at_active",
            "workspace_id",
            "due_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        # Ingest wake-ups: a user's rows waiting on an event.
        Index(
            "ix_journey_states_workspace_id_user_id_active",
            "workspace_id",
            "user_id",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
        CheckConstraint("status IN ('active', 'exited')", name="status"),
    )

    journey_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    entry: Mapped[int] = mapped_column(Integer)  # 1 for the first entry, 2 for a re-entry...
    status: Mapped[str] = mapped_column(String(16), default=StateStatus.active)
    step: Mapped[str] = mapped_column(String(64))  # the step to run, or the one waiting/exited at
    seq: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When the current waiting step began (wait-for-event looks for events since then).
    waiting_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # The entry event ({"name", "properties"}) templates read as ``event``.
    event: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    exited_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    exit_reason: Mapped[str | None] = mapped_column(String(16), default=None)
