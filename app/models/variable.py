from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc, UtcDateTime
from app.models.base import Base, TenantScoped, Timestamps


class Variable(TenantScoped, Timestamps, Base):
    """Dynamic content (app/content): a typed value with a default, segment rules tried in
    order (``[{"segment_id" | "definition", "value"}]``) and A/B ``variants``
    (``[{"key", "weight", "value"}]``) for everyone no rule matched. ``version`` counts
    changes; archived variables are kept but no longer served."""

    __tablename__ = "variables"
    __table_args__ = (Index("ix_variables_workspace_id_key", "workspace_id", "key", unique=True),)

    key: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    default_value: Mapped[Any] = mapped_column(JsonDoc)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)
    experiment: Mapped[str | None] = mapped_column(String(128), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
