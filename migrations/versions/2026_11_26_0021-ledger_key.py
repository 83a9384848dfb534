"""One unique key for the ledger, (workspace, campaign, user, send), instead of the unique
(workspace, send, user) and the plain (workspace, campaign, user): a send belongs to one
campaign, so the new key is exactly as unique, and it serves a campaign's rows and a user's rows
within it as the old campaign index did. Each snapshot row and each sent row's new version pays
for one index fewer.

Revision ID: 0021_ledger_key
Revises: 0020_snapshot_speed
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_ledger_key"
down_revision: str | None = "0020_snapshot_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_workspace_id_campaign_id_user_id_send_id",
        "deliveries",
        ["workspace_id", "campaign_id", "user_id", "send_id"],
        unique=True,
    )
    op.drop_index("ix_deliveries_workspace_id_send_id_user_id", table_name="deliveries")
    op.drop_index("ix_deliveries_workspace_id_campaign_id_user_id", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_workspace_id_campaign_id_user_id", "deliveries", ["workspace_id", "campaign_id", "user_id"]
    )
    op.create_index(
        "ix_deliveries_workspace_id_send_id_user_id",
        "deliveries",
        ["workspace_id", "send_id", "user_id"],
        unique=True,
    )
    op.drop_index("ix_deliveries_workspace_id_campaign_id_user_id_send_id", table_name="deliveries")
