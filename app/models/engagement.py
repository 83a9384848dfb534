from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class Engagement(TenantScoped, Base):
    """Something a user did with a message: opened, clicked, unsubscribed, complained; or a
    bounce the provider reported. Append-only; ``delivery_id`` names the ledger row."""

    __tablename__ = "engagements"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        # A delivery's engagements with their kind and user: index-only scans in delivery order.
        Index(
            "ix_engagements_workspace_id_delivery_id",
            "workspace_id",
            "delivery_id",
            postgresql_include=["kind", "user_id"],
        ),
        Index("ix_engagements_workspace_id_user_id_occurred_at", "workspace_id", "user_id", "occurred_at"),
        CheckConstraint("kind IN ('open', 'click', 'unsubscribe', 'complaint', 'bounce')", name="kind"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str | None] = mapped_column(Text, default=None)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
