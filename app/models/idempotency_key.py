from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class IdempotencyKey(TenantScoped, Base):
    """A POST's ``Idempotency-Key``: claimed before the work, completed in the same
    transaction as the work with the response to replay for 24 hours."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_workspace_id_key", "workspace_id", "key", unique=True),
        Index("ix_idempotency_keys_workspace_id_created_at", "workspace_id", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
