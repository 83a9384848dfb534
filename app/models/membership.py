from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, Timestamps


class Role(StrEnum):
    """From most to least powerful; app.operators.permissions says what each may do."""

    owner = "owner"
    admin = "admin"
    marketer = "marketer"
    analyst = "analyst"
    viewer = "viewer"


class Membership(Timestamps, Base):
    """An operator's role in one workspace.

    Keyed ``(workspace_id, operator_id)`` so the workspace leads, as in every tenant table:
    a workspace's member list is one index range and the row moves with its workspace when
    tables are distributed by ``workspace_id``. It is not ``TenantScoped`` on purpose: the
    workspace switcher must list one operator's memberships *across* workspaces, so the
    automatic ORM filter would be wrong here; app.operators.memberships is the only module
    that queries it, always naming the workspace or the operator explicitly. The secondary
    index on ``(operator_id, workspace_id)`` serves that per-operator read.

    Postgres row-level security still applies, with a policy of its own: a row is visible
    to a transaction scoped to its workspace *or* to its operator (``nudge.operator_id``,
    set by app.kit.db.scope_to_operator), so a dashboard request can read its own
    memberships and its current workspace's members, and nothing else.
    """

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'admin', 'marketer', 'analyst', 'viewer')", name="role"),
        Index("ix_memberships_operator_id_workspace_id", "operator_id", "workspace_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    operator_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
