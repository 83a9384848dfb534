from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, ForeignKeyConstraint, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class UserActivityDay(Base):
    """A UTC day on which a user had at least one event: the rollup behind "active on N of the
    last D days". Written at ingest (app/segments/activity.py); erased with the user.

    Read and written with Core statements that filter on ``workspace_id`` explicitly (it has no
    surrogate id, so it is not a TenantScoped ORM entity); row-level security guards it too.
    """

    __tablename__ = "user_activity_days"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        # Everyone active in a range of days (segment counts); the primary key serves one user.
        Index("ix_user_activity_days_workspace_id_day_user_id", "workspace_id", "day", "user_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
