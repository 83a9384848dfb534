from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class UserErasure(TenantScoped, Base):
    """What remains of a deleted user: anonymous counts, no identifier."""

    __tablename__ = "user_erasures"

    erased_at: Mapped[datetime] = mapped_column(UtcDateTime)
    events: Mapped[int] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer)
