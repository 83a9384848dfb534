from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.ids import uuid7
from app.kit.types import UtcDateTime
from app.models.base import Base, utcnow


class OperatorSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
    leaked table cannot be replayed, and signing out (or a password reset) deletes the row.
    Looked up by hash before any workspace is known, like API keys: outside row-level security.
    """

    __tablename__ = "operator_sessions"
    __table_args__ = (
        Index("ix_operator_sessions_token_hash", "token_hash", unique=True),
        Index("ix_operator_sessions_operator_id", "operator_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    token_hash: Mapped[str] = mapped_column(String(64))
    operator_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("operators.id", ondelete="CASCADE"))
    # Where "open the dashboard" lands next time; a hint only, membership is checked on use.
    last_workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
