from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped


class InboxItem(TenantScoped, Base):
    """An in-app message waiting for a user: one per delivery (the unique key makes a
    repeated send a no-op). ``trigger`` names the event that shows it, or none: at once."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_inbox_items_workspace_id_user_id_created_at", "workspace_id", "user_id", "created_at"),
        Index("ix_inbox_items_workspace_id_delivery_id", "workspace_id", "delivery_id", unique=True),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    delivery_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    content: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    trigger: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    dismissed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
