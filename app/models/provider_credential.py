from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc
from app.models.base import Base, TenantScoped, Timestamps

PROVIDERS = ("smtp", "fcm", "apns", "webpush", "webhook")


class ProviderCredential(TenantScoped, Timestamps, Base):
    """One provider's settings for a workspace, encrypted (AES-GCM, key derived from the app
    secret). ``masked`` is what the API may show: secrets reduced to their last characters."""

    __tablename__ = "provider_credentials"
    __table_args__ = (
        Index("ix_provider_credentials_workspace_id_provider", "workspace_id", "provider", unique=True),
        CheckConstraint(f"provider IN {PROVIDERS}", name="provider"),
    )

    provider: Mapped[str] = mapped_column(String(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    masked: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
