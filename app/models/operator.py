from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.ids import uuid7
from app.kit.types import UtcDateTime
from app.models.base import Base, Timestamps


class Operator(Timestamps, Base):
    """A dashboard login: one person, who may belong to several workspaces (``memberships``).

    Not tenant-owned: an operator spans workspaces, and logging in looks the row up by email
    before any workspace is known, so the table sits outside row-level security (the
    password hash is argon2id; nothing here is readable without the app role).
    """

    __tablename__ = "operators"
    __table_args__ = (Index("ix_operators_email", "email", unique=True),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    email: Mapped[str] = mapped_column(String(320))  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
