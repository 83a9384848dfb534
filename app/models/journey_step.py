from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base


class JourneyStep(Base):
    """The step journal: the step a state took at position ``seq`` and where it led
    (``outcome``: the branch taken, ``yes``/``no``, a split path; null while a wait runs).
    The primary key (workspace, state, seq) makes each step happen at most once per entry.
    No foreign keys: a journal row is written for every step of a hundred thousand users."""

    __tablename__ = "journey_steps"
    __table_args__ = (
        Index("ix_journey_steps_workspace_id_journey_id_step", "workspace_id", "journey_id", "step"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    state_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    journey_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
