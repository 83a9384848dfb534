from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.ids import uuid7
from app.models.base import Base, Timestamps


def _same_zone(context: Any) -> str:
    return str(context.get_current_parameters()["timezone"])


class Workspace(Timestamps, Base):
    """A tenant: one customer's app. The root every tenant-owned row hangs from."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The zone the weekly activity rollup is kept in (app/reports/activity_weeks.py): the
    # workspace's zone from the start (its rollup is then empty and exact), the old one after a
    # zone change until the rollup is rebuilt.
    activity_weeks_zone: Mapped[str] = mapped_column(String(64), default=_same_zone)
