from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped


class Event(TenantScoped, Base):
    """Something a user did. Append-only; ``message_id`` makes ingest idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        # Behaviour segments: "did E n times in D days" scans this range and joins users.
        Index(
            "ix_events_workspace_id_name_occurred_at_user_id",
            "workspace_id",
            "name",
            "occurred_at",
            "user_id",
        ),
        # Active users and events per day over every name (reports).
        Index("ix_events_workspace_id_occurred_at_user_id", "workspace_id", "occurred_at", "user_id"),
        # A user's timeline, deletion, and per-user conditions.
        Index("ix_events_workspace_id_user_id_occurred_at", "workspace_id", "user_id", "occurred_at"),
        Index(
            "ix_events_workspace_id_message_id",
            "workspace_id",
            "message_id",
            unique=True,
            postgresql_where=text("message_id IS NOT NULL"),
            sqlite_where=text("message_id IS NOT NULL"),
        ),
    )

    # No foreign key to workspaces (unlike other tenant tables): the key to users implies it and
    # cascades a workspace's deletion, and it would lock the workspace's row for every event.
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    message_id: Mapped[str | None] = mapped_column(String(200), default=None)
