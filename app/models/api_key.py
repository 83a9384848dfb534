from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class KeyKind(StrEnum):
    secret = "secret"  # noqa: S105  (server side: everything)
    publishable = "publishable"  # client SDKs: identify, track, own inbox and content


class ApiKey(TenantScoped, Timestamps, Base):
    """An API key, stored only as its SHA-256. Looked up by hash before any workspace is known,
    so this table is outside row-level security (the hash is the secret)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("kind IN ('secret', 'publishable')", name="kind"),
        Index("ix_api_keys_key_hash", "key_hash", unique=True),
    )

    kind: Mapped[KeyKind] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(24))
    key_hash: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
