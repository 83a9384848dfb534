"""Content experiment exposures: the first variant ``GET /v1/content`` served each user of
each experiment (app/content/exposures.py), which the experiment's results count from.

Revision ID: 0019_content_exposures
Revises: 0018
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.rls import grant_and_protect

revision: str = "0019_content_exposures"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "content_exposures",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("experiment", sa.String(length=128), nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_content_exposures_workspace_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_content_exposures_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_content_exposures")),
    )
    op.create_index(
        "ix_content_exposures_workspace_id_experiment_user_id",
        "content_exposures",
        ["workspace_id", "experiment", "user_id"],
        unique=True,
    )
    grant_and_protect("content_exposures")


def downgrade() -> None:
    op.drop_index("ix_content_exposures_workspace_id_experiment_user_id", table_name="content_exposures")
    op.drop_table("content_exposures")
