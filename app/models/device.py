from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class Platform(StrEnum):
    fcm = "fcm"
    apns = "apns"
    webpush = "webpush"


class Device(TenantScoped, Timestamps, Base):
    """A push address. ``token`` is the FCM/APNs token or the Web Push endpoint; unique per
    workspace and platform, so registering it for another user moves it."""

    __tablename__ = "devices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        Index("ix_devices_workspace_id_platform_token", "workspace_id", "platform", "token", unique=True),
        Index("ix_devices_workspace_id_user_id", "workspace_id", "user_id"),
        CheckConstraint("platform IN ('fcm', 'apns', 'webpush')", name="platform"),
        CheckConstraint(
            "apns_environment IS NULL OR apns_environment IN ('sandbox', 'production')",
            name="apns_environment",
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    platform: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)
    apns_environment: Mapped[str | None] = mapped_column(String(16), default=None)
    webpush_p256dh: Mapped[str | None] = mapped_column(String(200), default=None)
    webpush_auth: Mapped[str | None] = mapped_column(String(100), default=None)
    app_version: Mapped[str | None] = mapped_column(String(50), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
