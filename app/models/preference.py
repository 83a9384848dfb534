from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, TenantScoped, Timestamps


class Preference(TenantScoped, Timestamps, Base):
    """A user's choice for one message category on one channel (``newsletter`` by email...).
    No row means subscribed; the channel-wide switch lives on the user (``email_status``)."""

    __tablename__ = "preferences"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        Index(
            "ix_preferences_workspace_id_user_id_channel_category",
            "workspace_id",
            "user_id",
            "channel",
            "category",
            unique=True,
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(default=True)
