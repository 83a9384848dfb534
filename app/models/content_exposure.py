from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class ContentExposure(TenantScoped, Base):
    """The first time ``GET /v1/content`` served a user a variant of a content experiment (a
    variable's ``experiment``, or its key): what the experiment's results count from. Written
    in bulk by each API process (app/content/exposures.py); erased with the user."""

    __tablename__ = "content_exposures"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        # One exposure per user and experiment: the first one served wins.
        Index(
            "ix_content_exposures_workspace_id_experiment_user_id",
            "workspace_id",
            "experiment",
            "user_id",
            unique=True,
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    experiment: Mapped[str] = mapped_column(String(128))
    variant: Mapped[str] = mapped_column(String(40))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
