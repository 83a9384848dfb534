from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class EmailSuppression(TenantScoped, Base):
    """An address never to mail again in this workspace: a hard bounce, a complaint, or a
    manual entry. Kept by address (not user) so a re-created user inherits it."""

    __tablename__ = "email_suppressions"
    __table_args__ = (
        Index("ix_email_suppressions_workspace_id_email", "workspace_id", "email", unique=True),
        CheckConstraint("reason IN ('bounce', 'complaint', 'manual')", name="reason"),
    )

    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
