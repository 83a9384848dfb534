"""Reports: indexes for campaign reports, conversion attribution and workspace activity.

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_deliveries_workspace_id_campaign_id_user_id', 'deliveries', ['workspace_id', 'campaign_id', 'user_id'], unique=False)
    op.create_index('ix_deliveries_workspace_id_sent_at', 'deliveries', ['workspace_id', 'sent_at'], unique=False)
    op.create_index('ix_events_workspace_id_occurred_at_user_id', 'events', ['workspace_id', 'occurred_at', 'user_id'], unique=False)
    op.create_index('ix_users_workspace_id_first_seen_at', 'users', ['workspace_id', 'first_seen_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_users_workspace_id_first_seen_at', table_name='users')
    op.drop_index('ix_events_workspace_id_occurred_at_user_id', table_name='events')
    op.drop_index('ix_deliveries_workspace_id_sent_at', table_name='deliveries')
    op.drop_index('ix_deliveries_workspace_id_campaign_id_user_id', table_name='deliveries')
