from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class Channel(StrEnum):
    email = "email"
    push = "push"
    in_app = "in_app"


class SubscriptionState(StrEnum):
    subscribed = "subscribed"
    unsubscribed = "unsubscribed"


_STATES = "('subscribed', 'unsubscribed')"


class User(TenantScoped, Timestamps, Base):
    """An end user of the customer's app, keyed by the app's ``external_id``."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_workspace_id_external_id", "workspace_id", "external_id", unique=True),
        Index("ix_users_workspace_id_email", "workspace_id", "email"),
        # New users per day and retention cohorts (reports).
        Index("ix_users_workspace_id_first_seen_at", "workspace_id", "first_seen_at"),
        Index(
            "ix_users_attributes",
            "attributes",
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        ),
        CheckConstraint(f"email_status IN {_STATES}", name="email_status"),
        CheckConstraint(f"push_status IN {_STATES}", name="push_status"),
        CheckConstraint(f"in_app_status IN {_STATES}", name="in_app_status"),
        # Room on each page so ingest's first/last-seen updates stay in place (HOT).
        {"postgresql_with": {"fillfactor": 80}},
    )

    external_id: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    locale: Mapped[str | None] = mapped_column(String(35), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    region: Mapped[str | None] = mapped_column(String(100), default=None)
    city: Mapped[str | None] = mapped_column(String(100), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    first_name: Mapped[str | None] = mapped_column(String(100), default=None)
    last_name: Mapped[str | None] = mapped_column(String(100), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    email_status: Mapped[str] = mapped_column(String(16), default=SubscriptionState.subscribed)
    push_status: Mapped[str] = mapped_column(String(16), default=SubscriptionState.subscribed)
    in_app_status: Mapped[str] = mapped_column(String(16), default=SubscriptionState.subscribed)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def subscriptions(self) -> dict[str, str]:
        return {"email": self.email_status, "push": self.push_status, "in_app": self.in_app_status}
