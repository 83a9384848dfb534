"""The weekly activity rollup behind the retention cohorts: one row per user and local week
with an event, carrying the user's cohort week (app/reports/activity_weeks.py), and the zone
each workspace's rollup is kept in. Filled from the events stored so far, in primary-key order;
the cohort index is built afterwards in one pass.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.rls import grant_and_protect
from app.reports.activity_weeks import build_all

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(
            sa.Column("activity_weeks_zone", sa.String(length=64), server_default="UTC", nullable=False)
        )
    with op.batch_alter_table("workspaces") as batch:
        batch.alter_column("activity_weeks_zone", server_default=None)
    op.create_table(
        "user_activity_weeks",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "user_id"],
            ["users.workspace_id", "users.id"],
            name=op.f("fk_user_activity_weeks_workspace_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_user_activity_weeks_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", "week", name=op.f("pk_user_activity_weeks")),
    )
    build_all(op.get_bind())
    op.create_index(
        "ix_user_activity_weeks_workspace_id_cohort_week",
        "user_activity_weeks",
        ["workspace_id", "cohort", "week"],
        unique=False,
    )
    grant_and_protect("user_activity_weeks")


def downgrade() -> None:
    op.drop_index("ix_user_activity_weeks_workspace_id_cohort_week", table_name="user_activity_weeks")
    op.drop_table("user_activity_weeks")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("activity_weeks_zone")
