from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Integer, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped

_NAMESPACE = uuid.UUID("0b6c7a57-52a8-4b0e-8f0f-3a8a3c0d9f11")


def trigger_entry_id(campaign_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID:
    """The row id for (campaign, user): deterministic, so the primary key itself is the guard."""
    return uuid.uuid5(_NAMESPACE, f"{campaign_id}:{user_id}")


class TriggerEntry(TenantScoped, Base):
    """When a user last entered a triggered campaign: the re-entry rule (once ever, or once
    per N days) is one atomic upsert on this row."""

    __tablename__ = "trigger_entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "campaign_id"], ["campaigns.workspace_id", "campaigns.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    entries: Mapped[int] = mapped_column(Integer, default=1)
