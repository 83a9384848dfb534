"""Indexes for the campaign funnel's opens and clicks: the campaign's ledger ids in id order,
and each delivery's engagements with their kind and user, so counting a campaign's engagements
is a merge join of two index-only scans instead of hashing every engagement and scanning every
ledger row. Neither key column ever changes, so updates of the ledger stay HOT.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        'ix_deliveries_workspace_id_campaign_id_id', 'deliveries', ['workspace_id', 'campaign_id', 'id']
    )
    op.drop_index('ix_engagements_workspace_id_delivery_id', table_name='engagements')
    op.create_index(
        'ix_engagements_workspace_id_delivery_id',
        'engagements',
        ['workspace_id', 'delivery_id'],
        postgresql_include=['kind', 'user_id'],
    )


def downgrade() -> None:
    op.drop_index('ix_engagements_workspace_id_delivery_id', table_name='engagements')
    op.create_index('ix_engagements_workspace_id_delivery_id', 'engagements', ['workspace_id', 'delivery_id'])
    op.drop_index('ix_deliveries_workspace_id_campaign_id_id', table_name='deliveries')
