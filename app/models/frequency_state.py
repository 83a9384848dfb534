from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import JsonDoc
from app.models.base import Base, TenantScoped


class FrequencyState(TenantScoped, Base):
    """What a user was recently sent, for rolling frequency caps. ``id`` is the user's id (one
    row per user), so the dispatcher locks exactly the rows of a chunk's users and two chunks
    for one user are serialised. ``recent`` holds ``[epoch_s, channel, delivery_id]`` entries
    inside the longest cap window; the delivery id makes a re-run of a chunk count once.

    No foreign keys, like the ledger: dispatch creates a thousand of these rows per chunk."""

    __tablename__ = "frequency_states"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    recent: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
