from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class Invitation(TenantScoped, Timestamps, Base):
    """An invitation to join a workspace with a role. The link carries the workspace id and a
    random token kept only as SHA-256, so accepting looks it up inside that workspace (ORM
    filter and row-level security both apply). Single use, and it expires."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_workspace_id_token_hash", "workspace_id", "token_hash", unique=True),
        Index("ix_invitations_workspace_id_email", "workspace_id", "email"),
        CheckConstraint("role IN ('owner', 'admin', 'marketer', 'analyst', 'viewer')", name="role"),
    )

    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
