from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc
from app.models.base import Base, TenantScoped, Timestamps


class Segment(TenantScoped, Timestamps, Base):
    """A saved condition tree (app/segments/definition.py). ``definition`` is stored with every
    saved-segment reference resolved (the referenced tree embedded), so it compiles without
    further lookups; the segments service keeps those copies current."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_workspace_id_name", "workspace_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000), default=None)
    definition: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
