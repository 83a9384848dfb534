from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, ForeignKeyConstraint, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class UserActivityWeek(Base):
    """A local week (its Monday, in the workspace zone) in which a user had at least one event,
    with the local week of the user's first_seen_at: the rollup behind the retention cohorts.
    Written at ingest (app/reports/activity_weeks.py); erased with the user.

    Read and written with Core statements that filter on ``workspace_id`` explicitly; row-level
    security guards it too.
    """

    __tablename__ = "user_activity_weeks"
    __table_args__ = (
        ForeignKeyConstraint(
            ["workspace_id", "user_id"], ["users.workspace_id", "users.id"], ondelete="CASCADE"
        ),
        # The cohort table counts (cohort, week) pairs: an index-only scan of this.
        Index("ix_user_activity_weeks_workspace_id_cohort_week", "workspace_id", "cohort", "week"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    cohort: Mapped[date] = mapped_column(Date)
